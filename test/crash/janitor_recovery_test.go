package crash_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestKillDuringJanitor: the janitor is expiring 200 idle uploads when the
// server is killed. Outcome records are never torn; after a restart the next
// sweeps expire every upload and leave no data, info or hash file.
func TestKillDuringJanitor(t *testing.T) {
	const n = 200
	src := readTestdata(t, "ok.png")
	janitorFlags := []string{"--upload-ttl", "1s", "--janitor-interval", "200ms"}
	var (
		data string
		ids  []string
	)
	caught := false
	for attempt := 1; attempt <= 4 && !caught; attempt++ {
		data = t.TempDir()
		p := startServer(t, data, serverOpts{})
		ids = createPartial(t, p, n, src, 4096)
		p.stop(15 * time.Second)
		time.Sleep(1200 * time.Millisecond) // all idle for longer than the TTL

		p2 := startServer(t, data, serverOpts{args: janitorFlags})
		var left int
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			// Aim for the middle of the sweep: a quarter expired.
			left = countSuffix(t, filepath.Join(data, "uploads"), ".info")
			if left <= n*3/4 {
				break
			}
		}
		if left > 0 && left < n {
			p2.crash()
			caught = true
			after := listUploads(t, data)
			t.Logf("attempt %d: killed with %d of %d sessions left (%d after the kill); outcomes %d, outcome temp files %d",
				attempt, left, n, len(after.info), len(after.outcome), len(after.outcomeTmp))
		} else {
			p2.kill()
			t.Logf("attempt %d: missed the window (%d sessions left at the first look)", attempt, left)
		}
	}
	if !caught {
		t.Fatal("could not kill the server while the janitor was mid-sweep in 4 attempts")
	}
	// Right after the kill: no outcome is torn.
	for _, id := range listUploads(t, data).outcome {
		b, err := os.ReadFile(filepath.Join(data, "uploads", id+".outcome"))
		if err != nil || !jsonValid(b) {
			t.Errorf("outcome %s after the kill: corrupt (%v): %q", id, err, trunc(b))
		}
	}

	p3 := startServer(t, data, serverOpts{args: janitorFlags})
	t.Logf("restart to server.started: %s", p3.ready.Sub(p3.started).Round(time.Millisecond))
	waitFor(t, 20*time.Second, "every session expired", func() bool {
		u := listUploads(t, data)
		return len(u.data)+len(u.info)+len(u.hash) == 0
	})
	codes := map[int]int{}
	for _, id := range ids {
		h := p3.head(id)
		codes[h.Status]++
		if h.Status != http.StatusGone && h.Status != http.StatusNotFound {
			t.Errorf("HEAD %s after expiry: %s, want 410 or 404", id, h)
		}
	}
	t.Logf("HEAD of the %d uploads after restart and sweeps: %v", n, codes)
	waitInvariants(t, data, 5*time.Second)
	u := listUploads(t, data)
	if len(u.data)+len(u.info)+len(u.hash)+len(u.other) != 0 {
		t.Errorf("files left in uploads/: %+v", u)
	}
}

// createPartial creates n uploads of len(src) bytes carrying the first k
// bytes (creation-with-upload) and returns their ids.
func createPartial(t testing.TB, p *proc, n int, src []byte, k int) []string {
	t.Helper()
	ids := make([]string, n)
	err := inParallel(n, func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		id, r, err := p.create(ctx, int64(len(src)), map[string]string{"filename": "p.png"}, src[:k])
		if err == nil && r.Offset != int64(k) {
			err = fmt.Errorf("offset %d after creation, want %d", r.Offset, k)
		}
		ids[i] = id
		return err
	})
	if err != nil {
		t.Fatalf("create partial uploads: %v", err)
	}
	return ids
}

// TestRecoveryTime measures how long a restart after kill -9 takes to reach
// server.started with ~1000 images and ~1000 incomplete uploads on disk.
func TestRecoveryTime(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 2000-object recovery measurement")
	}
	const nImages, nUploads = 1000, 1000
	data := t.TempDir()
	p := startServer(t, data, serverOpts{})
	start := time.Now()
	shas := publishSmall(t, p, nImages, 100)
	t.Logf("published %d images in %s", len(shas), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	big := noisePNG(t, 64, 64, 7)
	createPartial(t, p, nUploads, big, 4096)
	t.Logf("created %d incomplete uploads in %s", nUploads, time.Since(start).Round(time.Millisecond))
	p.crash()

	p2 := startServer(t, data, serverOpts{})
	crashRestart := p2.ready.Sub(p2.started)
	t.Logf("RECOVERY after kill -9 with %d images and %d uploads: %s from exec to server.started",
		nImages, nUploads, crashRestart.Round(time.Millisecond))
	for _, msg := range []string{"contentstore.opened", "recover.images", "recover.uploads", "uploadstore.unclean_shutdown"} {
		for _, l := range p2.logs(msg) {
			t.Logf("  %s", l.raw)
		}
	}
	if l := p2.logs("recover.images"); len(l) != 1 || asFloat(l[0].m["images"]) != nImages {
		t.Errorf("recover.images does not report %d intact images: %v", nImages, l)
	}
	if crashRestart > 20*time.Second {
		t.Errorf("recovery took %s, more than 20s", crashRestart)
	}
	p2.mustServe(shas[0].sha, shas[0].src)
	p2.mustServe(shas[nImages-1].sha, shas[nImages-1].src)
	if got := checkInvariants(t, data); got != nImages {
		t.Errorf("%d images after recovery, want %d", got, nImages)
	}
	if u := listUploads(t, data); len(u.info) != nUploads || len(u.data) != nUploads {
		t.Errorf("after recovery %d sessions with info, %d data files; want %d", len(u.info), len(u.data), nUploads)
	}

	// The first restart also pays for resetting 1000 hash states and for the
	// page cache writing back what the crash left dirty; a second kill -9 and
	// restart of the same directory shows the steady cost of recovery.
	p2.crash()
	p3 := startServer(t, data, serverOpts{})
	t.Logf("RECOVERY after a second kill -9 of the same data: %s",
		p3.ready.Sub(p3.started).Round(time.Millisecond))
	p3.stop(15 * time.Second)
	p4 := startServer(t, data, serverOpts{})
	t.Logf("for comparison, restart after a clean stop: %s", p4.ready.Sub(p4.started).Round(time.Millisecond))
}

type published struct {
	sha string
	src []byte
}
