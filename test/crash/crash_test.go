package crash_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestKillDuringPatch: a large upload is mid-PATCH when the server is killed
// with SIGKILL. After a restart on the same data directory the upload's
// offset is what reached the disk (never more than the client sent), the
// client resumes from there and the published image is exactly the source.
func TestKillDuringPatch(t *testing.T) {
	data := t.TempDir()
	src := noisePNG(t, 2600, 2400, 1) // ~25 MB
	t.Logf("source: %d bytes, sha256 %s", len(src), sha256Hex(src))
	p := startServer(t, data, serverOpts{})
	id, _ := p.mustCreate(int64(len(src)), map[string]string{"filename": "big.png", "filetype": "image/png"}, nil)

	body := newSlowBody(src, 256<<10, 20*time.Millisecond) // ~12 MB/s
	type result struct {
		r   tusResp
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		r, err := p.patch(ctx, id, 0, body, int64(len(src)))
		done <- result{r, err}
	}()

	dataFile := filepath.Join(data, "uploads", id)
	waitFor(t, 30*time.Second, "8 MB of the upload on disk", func() bool {
		fi, err := os.Stat(dataFile)
		return err == nil && fi.Size() >= 8<<20
	})
	p.crash()
	sentAtKill := body.sent.Load()
	body.Stop()
	res := <-done
	if res.err == nil {
		t.Fatalf("PATCH answered although the server was killed mid-body: %s", res.r)
	}
	t.Logf("client had sent %d of %d bytes when the server was killed; client error: %v", sentAtKill, len(src), res.err)

	fi, err := os.Stat(dataFile)
	if err != nil {
		t.Fatal(err)
	}
	onDisk := fi.Size()
	got, err := os.ReadFile(dataFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytesPrefix(got, src) {
		t.Fatalf("after the crash the data file (%d bytes) is not a prefix of the source", len(got))
	}
	if _, err := os.Stat(filepath.Join(data, "uploads", ".running")); err != nil {
		t.Errorf("run marker missing after a crash: %v", err)
	}

	p2 := startServer(t, data, serverOpts{})
	t.Logf("restart to server.started: %s", p2.ready.Sub(p2.started).Round(time.Millisecond))
	if len(p2.logs("uploadstore.unclean_shutdown")) != 1 {
		t.Errorf("restart did not log uploadstore.unclean_shutdown")
	}
	checkInvariants(t, data)
	h := p2.head(id)
	if h.Status != http.StatusOK || h.Offset < 0 {
		t.Fatalf("HEAD after restart: %s", h)
	}
	if h.Offset > sentAtKill || h.Offset != onDisk {
		t.Fatalf("HEAD offset %d; client sent %d, data file holds %d", h.Offset, sentAtKill, onDisk)
	}
	t.Logf("resuming at offset %d (%.1f%% of the upload; sent %d)", h.Offset, 100*float64(h.Offset)/float64(len(src)), sentAtKill)

	r := p2.mustPatch(id, h.Offset, src[h.Offset:])
	if r.Status != http.StatusNoContent || r.imageSHA() != sha256Hex(src) {
		t.Fatalf("resumed PATCH: %s (want 204 with Image-Sha256 %s)", r, sha256Hex(src))
	}
	if r.Offset != int64(len(src)) {
		t.Errorf("resumed PATCH offset %d, want %d", r.Offset, len(src))
	}
	rehashed := p2.logs("upload.rehashed")
	if len(rehashed) != 1 || int64(asFloat(rehashed[0].m["bytes"])) != h.Offset {
		t.Errorf("want one upload.rehashed of %d bytes (hash state dropped after the crash), got %d lines", h.Offset, len(rehashed))
	}
	sha := assertStoredImage(t, data, src)
	p2.mustServe(sha, src)
	if h := p2.head(id); h.Status != http.StatusOK || h.imageSHA() != sha || h.Offset != int64(len(src)) {
		t.Errorf("HEAD after completion: %s", h)
	}
	if n := checkInvariants(t, data); n != 1 {
		t.Errorf("%d images stored, want 1", n)
	}
	u := listUploads(t, data)
	if len(u.data)+len(u.info)+len(u.hash) != 0 || len(u.outcome) != 1 {
		t.Errorf("upload area after completion: %+v", u)
	}
}

// TestKillDuringPublish: the final PATCH is inside publish (the image bytes
// are in place, the record not yet written) when the server is killed.
// Startup recovery publishes the upload: HEAD and a retried final PATCH get
// the Image-* headers, nothing half-published is visible, no orphan remains.
func TestKillDuringPublish(t *testing.T) {
	data := t.TempDir()
	src := readTestdata(t, "ok.png")
	sha := sha256Hex(src)
	p := startServer(t, data, serverOpts{env: []string{"TUSIMG_TEST_PUBLISH_PAUSE=3s"}})
	if len(p.logs("test.publish_pause")) == 0 {
		t.Fatal("server did not log test.publish_pause: TUSIMG_TEST_PUBLISH_PAUSE not honoured")
	}
	id, _ := p.mustCreate(int64(len(src)), map[string]string{"filename": "ok.png", "filetype": "image/png"}, nil)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r, err := p.patch(ctx, id, 0, strings.NewReader(string(src)), int64(len(src)))
		if err == nil {
			err = fmt.Errorf("answered: %s", r)
		}
		done <- err
	}()
	blob := imagePath(data, sha)
	waitFor(t, 15*time.Second, "image bytes in place during publish", func() bool {
		_, err := os.Stat(blob)
		return err == nil
	})
	// In the pause: bytes in place, no record yet, the upload still there.
	if _, err := os.Stat(blob + ".json"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("record already present before the kill (pause not effective?): %v", err)
	}
	// A half-published image is never served.
	if code, body, _ := p.get("/i/" + sha); code != http.StatusNotFound {
		t.Errorf("GET /i/{sha} during publish: %d %s, want 404", code, trunc(body))
	}
	p.crash()
	if err := <-done; err == nil || strings.HasPrefix(err.Error(), "answered") {
		t.Fatalf("final PATCH: %v (want a transport error: the server was killed)", err)
	}
	for _, f := range []string{filepath.Join(data, "uploads", id), filepath.Join(data, "uploads", id+".info")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("after the kill: %v (the upload must still be there)", err)
		}
	}
	if _, err := os.Stat(blob + ".json"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after the kill the record exists: %v", err)
	}
	// What is on disk now is the crash state: an orphan bytes file.
	if errs := invariantErrors(data); len(errs) == 0 {
		t.Log("note: no invariant violated before recovery")
	} else {
		t.Logf("before recovery (expected): %s", strings.Join(errs, "; "))
	}

	p2 := startServer(t, data, serverOpts{})
	t.Logf("restart to server.started: %s", p2.ready.Sub(p2.started).Round(time.Millisecond))
	if l := p2.logs("recover.images"); len(l) == 1 {
		t.Logf("recover.images: orphan_bytes=%v images=%v", l[0].m["orphan_bytes"], l[0].m["images"])
	}
	if l := p2.logs("recover.uploads"); len(l) == 1 {
		t.Logf("recover.uploads: finished=%v orphans=%v", l[0].m["finished"], l[0].m["orphans"])
	}
	h := p2.head(id)
	switch {
	case h.Status == http.StatusOK && h.imageSHA() == sha && h.Offset == int64(len(src)):
		t.Logf("recovery published the upload: HEAD %s", h)
	case h.Status == http.StatusOK && h.imageSHA() == "":
		t.Logf("recovery left the upload resumable: HEAD %s", h)
		r := p2.mustPatch(id, h.Offset, src[h.Offset:])
		if r.Status != http.StatusNoContent || r.imageSHA() != sha {
			t.Fatalf("finishing the resumable upload: %s", r)
		}
	default:
		t.Fatalf("HEAD after recovery: %s (want 200 with Image-Sha256 %s, or a resumable upload)", h, sha)
	}
	// The client lost the answer of its final PATCH and retries it.
	r := p2.mustPatch(id, 0, src)
	if r.Status != http.StatusNoContent || r.imageSHA() != sha || r.Header.Get("Image-Url") == "" {
		t.Errorf("retried final PATCH: %s, want 204 with Image-Sha256 and Image-Url", r)
	}
	r = p2.mustPatch(id, int64(len(src)), nil)
	if r.Status != http.StatusNoContent || r.imageSHA() != sha {
		t.Errorf("empty PATCH at the final offset: %s, want 204 with Image-Sha256", r)
	}
	assertStoredImage(t, data, src)
	p2.mustServe(sha, src)
	if n := checkInvariants(t, data); n != 1 {
		t.Errorf("%d images stored, want 1", n)
	}
	u := listUploads(t, data)
	if len(u.data)+len(u.info)+len(u.hash)+len(u.outcomeTmp)+len(u.other) != 0 || len(u.outcome) != 1 {
		t.Errorf("upload area after recovery: %+v", u)
	}
}

// publishSmall publishes n distinct small PNGs through tus (one
// creation-with-upload request each) and returns them.
func publishSmall(t testing.TB, p *proc, n int, seed uint64) []published {
	t.Helper()
	out := make([]published, n)
	for i := range out {
		src := noisePNG(t, 8, 8, seed+uint64(i))
		out[i] = published{sha: sha256Hex(src), src: src}
	}
	err := inParallel(n, func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, r, err := p.create(ctx, int64(len(out[i].src)), map[string]string{"filename": "s.png"}, out[i].src)
		if err == nil && r.imageSHA() != out[i].sha {
			err = fmt.Errorf("creation-with-upload of a whole image: %s, want Image-Sha256 %s", r, out[i].sha)
		}
		return err
	})
	if err != nil {
		t.Fatalf("publish small images: %v", err)
	}
	return out
}

// inParallel runs fn(0..n-1) on 8 workers and returns the first error; the
// workers stop taking new indexes after an error.
func inParallel(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var failed atomic.Value
	next := atomic.Int64{}
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for failed.Load() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					failed.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	err, _ := failed.Load().(error)
	return err
}

// waitFor polls cond every 2 ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func countSuffix(t testing.TB, dir, suffix string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), suffix) {
			n++
		}
	}
	return n
}

func bytesPrefix(b, of []byte) bool {
	return len(b) <= len(of) && string(b) == string(of[:len(b)])
}

func asFloat(v any) float64 {
	f, _ := v.(float64)
	return f
}
