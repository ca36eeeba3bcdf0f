package crash_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestGracefulShutdownUnderLoad: 50 throttled uploads are in flight when the
// server gets SIGTERM with --shutdown-grace 3s. It exits within the grace
// (plus a margin); after a restart every upload has either completed (HEAD
// shows Image-Sha256) or resumes from its offset and completes, and all 50
// images are exactly their sources.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	const n = 50
	const grace = 3 * time.Second
	const first = 20000 // bytes sent with the creation
	data := t.TempDir()
	p := startServer(t, data, serverOpts{args: []string{"--shutdown-grace", grace.String()}})
	srcs := make([][]byte, n)
	ids := make([]string, n)
	for i := range n {
		srcs[i] = noisePNG(t, 160+2*i, 160, uint64(100+i)) // 100-160 KB
		// The first part goes with the creation, so a hash state is saved;
		// the cut PATCHes then leave it behind the data.
		ids[i], _ = p.mustCreate(int64(len(srcs[i])), map[string]string{"filename": "g.png"}, srcs[i][:first])
	}
	type result struct {
		r   tusResp
		err error
	}
	results := make([]result, n)
	bodies := make([]*slowBody, n)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		// 8 KiB every 50..540 ms: from about 0.5 s to 9 s per upload, so
		// about half finish within the grace and half are cut.
		bodies[i] = newSlowBody(srcs[i][first:], 8<<10, time.Duration(50+10*i)*time.Millisecond)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := p.patch(ctx, ids[i], first, bodies[i], int64(len(srcs[i])-first))
			results[i] = result{r: r, err: err}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	took := p.stop(grace + 10*time.Second)
	t.Logf("SIGTERM with %s grace: process exited after %s", grace, took.Round(time.Millisecond))
	if took > grace+2*time.Second {
		t.Errorf("exit took %s, more than grace %s + 2s", took, grace)
	}
	for _, b := range bodies {
		b.Stop()
	}
	wg.Wait()
	if p.exitErr != nil {
		t.Errorf("server exit status after SIGTERM: %v", p.exitErr)
	}
	if len(p.logs("server.shutdown_forced")) > 0 {
		t.Logf("server logged server.shutdown_forced (requests cut at the end of the grace)")
	}

	completedBefore, transportErrs := 0, 0
	answered := map[int]int{}
	for i, res := range results {
		if res.err == nil && res.r.Status == http.StatusNoContent {
			completedBefore++
			if res.r.imageSHA() != sha256Hex(srcs[i]) {
				t.Errorf("upload %d completed with Image-Sha256 %q, want %s", i, res.r.imageSHA(), sha256Hex(srcs[i]))
			}
		} else if res.err == nil {
			answered[res.r.Status]++
		} else {
			transportErrs++
		}
	}
	t.Logf("cut uploads: answers by status %v, transport errors %d", answered, transportErrs)
	t.Logf("%d of %d uploads completed before the server exited", completedBefore, n)

	p2 := startServer(t, data, serverOpts{})
	if len(p2.logs("uploadstore.unclean_shutdown")) > 0 {
		t.Errorf("restart after SIGTERM logged uploadstore.unclean_shutdown")
	}
	checkInvariants(t, data)
	completed, resumed := 0, 0
	var offsets []int64
	for i, id := range ids {
		sha := sha256Hex(srcs[i])
		h := p2.head(id)
		if h.Status != http.StatusOK {
			t.Errorf("upload %d: HEAD after restart: %s", i, h)
			continue
		}
		if h.imageSHA() != "" {
			completed++
			if h.imageSHA() != sha || h.Offset != int64(len(srcs[i])) {
				t.Errorf("upload %d: HEAD %s, want Image-Sha256 %s", i, h, sha)
			}
		} else {
			resumed++
			offsets = append(offsets, h.Offset)
			if h.Offset < first || h.Offset > first+bodies[i].sent.Load() {
				t.Errorf("upload %d: offset %d, client sent %d", i, h.Offset, first+bodies[i].sent.Load())
				continue
			}
			r := p2.mustPatch(id, h.Offset, srcs[i][h.Offset:])
			if r.Status != http.StatusNoContent || r.imageSHA() != sha {
				t.Errorf("upload %d: resuming at %d: %s", i, h.Offset, r)
				continue
			}
		}
		assertStoredImage(t, data, srcs[i])
		p2.mustServe(sha, srcs[i])
	}
	t.Logf("after restart: %d already completed, %d resumed (offsets %v; %d re-read data the hash state lacked)",
		completed, resumed, offsets, len(p2.logs("upload.rehashed")))
	if completed+resumed != n {
		t.Errorf("%d completed + %d resumed != %d", completed, resumed, n)
	}
	if got := checkInvariants(t, data); got != n {
		t.Errorf("%d images stored, want %d", got, n)
	}
}
