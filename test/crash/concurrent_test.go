package crash_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestConcurrentPatch sends two slow PATCHes at the same offset of one upload
// from two clients, with different bytes of the same length. Our locker asks
// the holder to let go, so tusd stops the first request (which keeps the bytes
// it received) and the second then finds the offset moved (409), unless the
// first had stored nothing yet. Whatever the timing: at most one request
// completes, the losers get a clean 4xx, the stored data is a prefix of one
// source with no bytes of the other, and the upload finishes correctly after
// resuming.
func TestConcurrentPatch(t *testing.T) {
	// ~4 MB each: past 1 MiB a chunk's hash runs in a pipeline, so an
	// interrupted pipelined chunk must leave a hash state that is exact.
	a := noisePNG(t, 1000, 1000, 21)
	b := noisePNG(t, 1000, 1000, 22)
	if len(a) != len(b) {
		t.Fatalf("sources differ in length: %d, %d", len(a), len(b))
	}
	common := 0
	for common < len(a) && a[common] == b[common] {
		common++
	}
	p := startServer(t, t.TempDir(), serverOpts{})
	for _, delay := range []int{0, 256 << 10, 5 << 19} {
		t.Run(fmt.Sprintf("second_after_%dKiB", delay>>10), func(t *testing.T) {
			p.t = t // the server's helpers report to the subtest
			concurrentRound(t, p, a, b, common, delay)
		})
	}
	p.t = t
	checkInvariants(t, p.data)
}

type patchResult struct {
	who string
	r   tusResp
	err error
}

func concurrentRound(t *testing.T, p *proc, a, b []byte, common, startAfter int) {
	id, _ := p.mustCreate(int64(len(a)), map[string]string{"filename": "c.png"}, nil)
	dataFile := filepath.Join(p.data, "uploads", id)
	// Two clients: separate transports, so two connections.
	clientA := &http.Client{Transport: &http.Transport{}}
	clientB := &http.Client{Transport: &http.Transport{}}
	defer clientA.CloseIdleConnections()
	defer clientB.CloseIdleConnections()
	bodyA := newSlowBody(a, 32<<10, 20*time.Millisecond)
	bodyB := newSlowBody(b, 32<<10, 20*time.Millisecond)
	results := make(chan patchResult, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	send := func(who string, c *http.Client, body *slowBody) {
		r, err := patchWith(ctx, c, p.URL, id, 0, body, int64(len(a)))
		results <- patchResult{who, r, err}
	}
	go send("A", clientA, bodyA)
	if startAfter > 0 {
		waitFor(t, 20*time.Second, "A's bytes on disk", func() bool {
			fi, err := os.Stat(dataFile)
			return err == nil && fi.Size() >= int64(startAfter)
		})
	}
	started := time.Now()
	go send("B", clientB, bodyB)
	var res []patchResult
	for range 2 {
		select {
		case r := <-results:
			res = append(res, r)
		case <-ctx.Done():
			t.Fatal("the two PATCHes did not both end within 45s")
		}
	}
	bodyA.Stop()
	bodyB.Stop()
	completed := 0
	for _, r := range res {
		switch {
		case r.err != nil:
			t.Errorf("client %s: transport error instead of an answer: %v", r.who, r.err)
		case r.r.Status == http.StatusNoContent:
			completed++
			t.Logf("client %s: %s (after %s)", r.who, r.r, time.Since(started).Round(time.Millisecond))
		case r.r.Status == http.StatusConflict || r.r.Status == http.StatusLocked || r.r.Status == http.StatusBadRequest:
			t.Logf("client %s: %d offset=%d %s", r.who, r.r.Status, r.r.Offset, trunc([]byte(r.r.Body)))
		default:
			t.Errorf("client %s: %s, want 204 or a clean 400/409/423", r.who, r.r)
		}
	}
	if completed > 1 {
		t.Fatalf("both PATCHes completed the upload")
	}

	// What the server stored: the data file, or the published image.
	h := p.head(id)
	var stored []byte
	if sha := h.imageSHA(); sha != "" {
		var err error
		if stored, err = os.ReadFile(imagePath(p.data, sha)); err != nil {
			t.Fatal(err)
		}
	} else {
		var err error
		if stored, err = os.ReadFile(dataFile); err != nil {
			t.Fatal(err)
		}
		if int64(len(stored)) != h.Offset {
			t.Fatalf("HEAD offset %d, data file %d bytes", h.Offset, len(stored))
		}
	}
	inA, inB := bytesPrefix(stored, a), bytesPrefix(stored, b)
	var winner []byte
	switch {
	case inA && inB:
		t.Logf("stored %d bytes, within the %d bytes both sources share", len(stored), common)
		winner = a
	case inA:
		winner = a
		t.Logf("stored %d bytes, all from client A", len(stored))
	case inB:
		winner = b
		t.Logf("stored %d bytes, all from client B", len(stored))
	default:
		t.Fatalf("stored %d bytes are a prefix of neither source: interleaved or corrupt", len(stored))
	}
	if h.imageSHA() == "" {
		rehashed := len(p.logs("upload.rehashed"))
		r := p.mustPatch(id, h.Offset, winner[h.Offset:])
		if n := len(p.logs("upload.rehashed")); n != rehashed {
			t.Errorf("resuming re-read the data (upload.rehashed): the interrupted PATCH did not leave an exact hash state")
		}
		if r.Status != http.StatusNoContent || r.imageSHA() != sha256Hex(winner) {
			t.Fatalf("resuming at %d: %s, want 204 with Image-Sha256 %s", h.Offset, r, sha256Hex(winner))
		}
	} else if h.imageSHA() != sha256Hex(winner) {
		t.Fatalf("completed with Image-Sha256 %s, want %s", h.imageSHA(), sha256Hex(winner))
	}
	assertStoredImage(t, p.data, winner)
	p.mustServe(sha256Hex(winner), winner)
}

// TestConcurrentPatchDuringPublish: the first PATCH is in publish (held there
// by TUSIMG_TEST_PUBLISH_PAUSE) when a second PATCH for the same upload
// arrives. The second cannot get the lock within --lock-timeout and gets 423
// (tus spec; tusd itself would answer 500); the first, asked to let go while
// it publishes, still publishes correctly and answers with the Image-*
// headers.
func TestConcurrentPatchDuringPublish(t *testing.T) {
	pr := publishRace(t)
	defer pr.clientA.CloseIdleConnections()
	pr.clientA.CloseIdleConnections() // see TestKeepAliveAfterInterruptedPublish
	p, id, sha, src := pr.p, pr.id, pr.sha, pr.src
	if h := p.head(id); h.imageSHA() != sha {
		t.Errorf("HEAD afterwards: %s", h)
	}
	// The second client retries and gets the same outcome.
	if r := p.mustPatch(id, 0, src); r.Status != http.StatusNoContent || r.imageSHA() != sha {
		t.Errorf("second client's retry: %s, want 204 with Image-Sha256", r)
	}
	p.mustServe(sha, src)
	checkInvariants(t, p.data)
}

// TestKeepAliveAfterInterruptedPublish: after a PATCH that was asked to
// release its lock while in publish (its body fully read), the next request
// on the same keep-alive connection must be served normally.
func TestKeepAliveAfterInterruptedPublish(t *testing.T) {
	pr := publishRace(t)
	defer pr.clientA.CloseIdleConnections()
	code := 0
	var body []byte
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodGet, pr.p.URL+"/i/"+pr.sha, nil)
		resp, err := pr.clientA.Do(req)
		if err != nil {
			t.Fatalf("GET %d on the first client's connection: %v", i, err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		code = resp.StatusCode
		if code != http.StatusOK {
			break
		}
	}
	if code != http.StatusOK || !bytes.Equal(body, pr.src) {
		t.Errorf("GET /i/{sha} on the connection of the interrupted PATCH: %d %s, want 200 with the image", code, trunc(body))
	}
}

type publishRaceResult struct {
	p       *proc
	clientA *http.Client
	id, sha string
	src     []byte
	a, b    tusResp
}

// publishRace holds client A's final PATCH in publish (2s pause), sends
// client B's PATCH for the same upload meanwhile (lock timeout 500ms) and
// asserts: B gets 423, A gets 204 with the Image-* headers.
func publishRace(t *testing.T) publishRaceResult {
	t.Helper()
	src := readTestdata(t, "ok.png")
	sha := sha256Hex(src)
	p := startServer(t, t.TempDir(), serverOpts{env: []string{"TUSIMG_TEST_PUBLISH_PAUSE=2s"},
		args: []string{"--lock-timeout", "500ms", "--log-level", "debug"}})
	id, _ := p.mustCreate(int64(len(src)), map[string]string{"filename": "ok.png"}, nil)
	clientA := &http.Client{Transport: &http.Transport{}}
	first := make(chan patchResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r, err := patchWith(ctx, clientA, p.URL, id, 0, bytes.NewReader(src), int64(len(src)))
		first <- patchResult{"A", r, err}
	}()
	waitFor(t, 10*time.Second, "the first PATCH in publish", func() bool {
		_, err := os.Stat(imagePath(p.data, sha))
		return err == nil
	})
	clientB := &http.Client{Transport: &http.Transport{}}
	defer clientB.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	rb, err := patchWith(ctx, clientB, p.URL, id, 0, bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatalf("second PATCH: %v", err)
	}
	t.Logf("second PATCH while the first publishes: %s after %s", rb, time.Since(start).Round(time.Millisecond))
	if rb.Status != http.StatusLocked {
		t.Errorf("second PATCH: %s, want 423", rb)
	}
	ra := <-first
	if ra.err != nil {
		t.Fatalf("first PATCH: %v", ra.err)
	}
	t.Logf("first PATCH: %s", ra.r)
	if ra.r.Status != http.StatusNoContent || ra.r.imageSHA() != sha {
		t.Errorf("first PATCH: %s, want 204 with Image-Sha256 %s", ra.r, sha)
	}
	return publishRaceResult{p: p, clientA: clientA, id: id, sha: sha, src: src, a: ra.r, b: rb}
}
