package bench

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
)

// Each mode against a real tusimg: counts as asked, no errors, tusimg's
// Image-Url seen on every upload.

func TestSmallAgainstTusimg(t *testing.T) {
	ts := testserver.Start(t, nil)
	for _, withUpload := range []bool{false, true} {
		res, err := Small(context.Background(), Options{URL: ts.URL, Count: 12, Concurrency: 4,
			Size: 50 << 10, CreationWithUpload: withUpload, Duration: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		checkClean(t, res, 12)
		if res.Uploads != 12 || res.ImageURLs != 12 {
			t.Errorf("creation-with-upload %v: %d uploads, %d with Image-Url, want 12 each", withUpload, res.Uploads, res.ImageURLs)
		}
		if res.Bytes < 12*50<<10*99/100 {
			t.Errorf("bytes %d, want about %d", res.Bytes, 12*50<<10)
		}
	}
	images, err := filepath.Glob(filepath.Join(ts.Data, "images", "*", "*", "*.json"))
	if err != nil || len(images) != 24 {
		t.Errorf("server stored %d image records, want 24 distinct (%v)", len(images), err)
	}
}

func TestLargeAgainstTusimg(t *testing.T) {
	ts := testserver.Start(t, nil)
	res, err := Large(context.Background(), Options{URL: ts.URL, Size: 3 << 20, Chunk: 256 << 10, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, res, 1)
	if !res.Complete || res.Bytes != res.Size || res.ImageURLs != 1 || !strings.Contains(res.ImageURL, "/i/") {
		t.Errorf("complete %v, bytes %d of %d, Image-Url %q", res.Complete, res.Bytes, res.Size, res.ImageURL)
	}
	if res.TimeToImageURLs <= 0 || res.P50Ms <= 0 {
		t.Errorf("no timings: %+v", res)
	}
	if processCPU() > 0 && res.ClientCPUSeconds <= 0 {
		t.Errorf("bench CPU %v s, want > 0", res.ClientCPUSeconds)
	}
}

func TestGetAgainstTusimg(t *testing.T) {
	ts := testserver.Start(t, nil)
	ctx := context.Background()
	res, err := Get(ctx, Options{URL: ts.URL, Count: 40, Concurrency: 4, Size: 20 << 10, Images: 5})
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, res, 40)
	if res.Bytes < 40*20<<10*99/100 {
		t.Errorf("GET read %d bytes, want about %d", res.Bytes, 40*20<<10)
	}
	dir := t.TempDir()
	shas, err := Gen(dir, Options{Count: 3, Size: 10 << 10})
	if err != nil || len(shas) != 3 {
		t.Fatalf("Gen: %v, %v", shas, err)
	}
	if res, err = Get(ctx, Options{URL: ts.URL, Count: 0, UploadDir: dir}); err != nil || res.Ops != 0 {
		t.Fatalf("upload-only: %v %+v", err, res)
	}
	for _, o := range []Options{{Head: true}, {IfNoneMatch: true}, {}} {
		o.URL, o.Count, o.Concurrency, o.SHAs = ts.URL, 9, 3, shas
		res, err := Get(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		checkClean(t, res, 9)
		if (o.Head || o.IfNoneMatch) != (res.Bytes == 0) {
			t.Errorf("%s: %d body bytes", res.Mode, res.Bytes)
		}
	}
}

// TestErrorsAreCounted checks failures are counted by status, not hidden.
func TestErrorsAreCounted(t *testing.T) {
	ts := testserver.Start(t, nil)
	missing := strings.Repeat("ab", 32)
	res, err := Get(context.Background(), Options{URL: ts.URL, Count: 4, SHAs: []string{missing}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 4 || res.ErrorsByStatus["GET 404"] != 4 || len(res.FirstErrors) != 4 || res.Ops != 0 {
		t.Errorf("errors %d %v %q, ops %d", res.Errors, res.ErrorsByStatus, res.FirstErrors, res.Ops)
	}
	// Over the server's 50 MiB default limit: the POST is refused.
	res, err = Large(context.Background(), Options{URL: ts.URL, Size: 60 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 1 || res.ErrorsByStatus["POST 413"] != 1 || res.Complete {
		t.Errorf("too large: %+v", res)
	}
	if _, err := Get(context.Background(), Options{URL: ts.URL, SHAs: []string{"nothex"}}); err == nil {
		t.Error("accepted a bad hash")
	}
}

// TestDurationStopsEarly checks the time bound stops a run before its count.
func TestDurationStopsEarly(t *testing.T) {
	ts := testserver.Start(t, nil)
	res, err := Get(context.Background(), Options{URL: ts.URL, Count: 1 << 30, Concurrency: 2, Size: 1 << 10,
		Images: 1, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !res.StoppedEarly || res.Ops == 0 || res.Ops >= 1<<30 || res.Errors != 0 {
		t.Errorf("stopped %v after %d ops, %d errors", res.StoppedEarly, res.Ops, res.Errors)
	}
}

func checkClean(t *testing.T, res Result, want int) {
	t.Helper()
	if res.Ops != want || res.Errors != 0 || res.StoppedEarly {
		t.Errorf("%s: %d ops of %d, %d errors %v %q, stopped early %v", res.Mode, res.Ops, want, res.Errors,
			res.ErrorsByStatus, res.FirstErrors, res.StoppedEarly)
	}
	if res.WallSeconds <= 0 || res.OpsPerSec <= 0 || res.MaxMs < res.P50Ms {
		t.Errorf("%s: timings %+v", res.Mode, res)
	}
}
