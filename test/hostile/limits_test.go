package hostile_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/config"
)

// inFlight reads the server's tusimg_uploads_in_flight gauge.
func inFlight(t *testing.T, ts *testserver.TS) int {
	t.Helper()
	mfs, err := ts.Server.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "tusimg_uploads_in_flight" && len(mf.GetMetric()) == 1 {
			return int(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	t.Fatal("no tusimg_uploads_in_flight gauge")
	return 0
}

// checkRefused asserts a limiter's answer: status, JSON code, a Retry-After
// of whole seconds within [1, maxRetry], and the CORS headers a browser needs
// to read it (the request carried Origin: http://app.test).
func checkRefused(t *testing.T, resp *http.Response, body []byte, status int, code string, maxRetry int) {
	t.Helper()
	if got, _ := apiError(body); resp.StatusCode != status || got != code {
		t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, status, code)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > maxRetry {
		t.Fatalf("Retry-After %q, want 1..%d seconds", resp.Header.Get("Retry-After"), maxRetry)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://app.test" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Fatalf("%d without CORS headers a browser needs: %v", status, resp.Header)
	}
}

// TestMaxConcurrentUploads sets MaxConcurrentUploads=4 and runs 4 slow
// PATCHes: a 5th upload request (tus PATCH, one-shot POST) gets 503 too_busy
// with Retry-After at once and nothing of it is stored, requests that carry
// no upload are served, the 4 finish, and the 5th succeeds when retried.
func TestMaxConcurrentUploads(t *testing.T) {
	ts := testserver.Start(t, func(c *config.Config) { c.MaxConcurrentUploads = 4 })
	imgs := make([][]byte, 5)
	urls := make([]string, 5)
	for i := range imgs {
		imgs[i] = noisePNG(t, int64(100+i), 48, 48)
		urls[i] = create(t, ts, len(imgs[i]), metadata("filename", "busy.png"))
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range 4 {
		wg.Go(func() {
			resp, err := slowPatch(urls[i], &slowBody{b: imgs[i], n: len(imgs[i])/10 + 1, pause: 250 * time.Millisecond}, len(imgs[i]))
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 204 || resp.Header.Get("Image-Sha256") != sha(imgs[i]) {
				errs[i] = fmt.Errorf("%s, Image-Sha256 %q", resp.Status, resp.Header.Get("Image-Sha256"))
			}
		})
	}
	for deadline := time.Now().Add(10 * time.Second); inFlight(t, ts) < 4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the 4 slow uploads did not start: %d in flight", inFlight(t, ts))
		}
	}

	resp, body := tusReq(t, "PATCH", urls[4], map[string]string{"Upload-Offset": "0",
		"Content-Type": "application/offset+octet-stream", "Origin": "http://app.test"}, imgs[4])
	checkRefused(t, resp, body, 503, "too_busy", 1)
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/images?filename=busy.png", bytes.NewReader(imgs[4]))
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("Origin", "http://app.test")
	if resp, err := client.Do(req); err != nil {
		t.Fatalf("one-shot while busy: %v", err)
	} else {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		checkRefused(t, resp, b.Bytes(), 503, "too_busy", 1)
	}
	// No upload bytes: never limited.
	if resp, body := tusReq(t, "POST", ts.URL+"/files/", map[string]string{"Upload-Length": "10"}, nil); resp.StatusCode != 201 {
		t.Errorf("creation without a body while busy: %d %s", resp.StatusCode, body)
	}
	if resp, _ := tusReq(t, "HEAD", urls[4], nil, nil); resp.StatusCode != 200 || resp.Header.Get("Upload-Offset") != "0" {
		t.Errorf("HEAD of the refused upload: %d, offset %q (want 0: nothing of the refused body stored)",
			resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	if resp, err := client.Get(ts.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz while busy: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}

	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("admitted upload %d: %v", i, err)
		}
	}
	if resp, body := patch(t, urls[4], 0, imgs[4]); resp.StatusCode != 204 || resp.Header.Get("Image-Sha256") != sha(imgs[4]) {
		t.Errorf("refused upload retried after the others finished: %d %s", resp.StatusCode, body)
	}
}

// TestCreateRateLimit sets CreateRate=0.1/s, CreateBurst=3 and checks who
// shares a bucket: one client address (both creation routes draw on it),
// the forwarded client with TrustProxy (right-most X-Forwarded-For entry,
// IPv6 by /64), and never a forwarded address without TrustProxy.
func TestCreateRateLimit(t *testing.T) {
	const burst, maxRetry = 3, 10 // rate 0.1/s: a token every 10 s
	limited := func(t *testing.T, trust bool) *testserver.TS {
		return testserver.Start(t, func(c *config.Config) {
			c.CreateRate, c.CreateBurst, c.TrustProxy = 0.1, burst, trust
		})
	}
	post := func(t *testing.T, ts *testserver.TS, xff string) (*http.Response, []byte) {
		t.Helper()
		return tusReq(t, "POST", ts.URL+"/files/", map[string]string{"Upload-Length": "10",
			"X-Forwarded-For": xff, "Origin": "http://app.test"}, nil)
	}
	expect := func(t *testing.T, ts *testserver.TS, xff string, codes ...int) {
		t.Helper()
		for i, want := range codes {
			resp, body := post(t, ts, xff)
			if resp.StatusCode != want {
				t.Fatalf("POST %d from %q: %d %s, want %d", i+1, xff, resp.StatusCode, body, want)
			}
			if want == 429 {
				checkRefused(t, resp, body, 429, "rate_limited", maxRetry)
			}
		}
	}

	t.Run("per client", func(t *testing.T) {
		ts := limited(t, false)
		img := readTestdata(t, "ok.png")
		url := create(t, ts, len(img), "")
		expect(t, ts, "", 201, 201, 429)
		resp, err := client.Post(ts.URL+"/api/v1/images?filename=ok.png", "image/png", bytes.NewReader(img))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 429 {
			t.Fatalf("one-shot upload after the burst: %d, want 429 (one bucket for both creation routes)", resp.StatusCode)
		}
		if resp, body := patch(t, url, 0, img); resp.StatusCode != 204 {
			t.Fatalf("PATCH of an existing upload is not a creation, yet: %d %s", resp.StatusCode, body)
		}
		if resp, _ := tusReq(t, "OPTIONS", ts.URL+"/files/", nil, nil); resp.StatusCode >= 300 {
			t.Fatalf("OPTIONS limited: %d", resp.StatusCode)
		}
	})
	t.Run("X-Forwarded-For ignored without TrustProxy", func(t *testing.T) {
		ts := limited(t, false)
		for i, xff := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"} {
			want := 201
			if i == burst {
				want = 429
			}
			expect(t, ts, xff, want)
		}
	})
	t.Run("per forwarded client with TrustProxy", func(t *testing.T) {
		ts := limited(t, true)
		expect(t, ts, "203.0.113.1", 201, 201, 201, 429)
		expect(t, ts, "198.51.100.9, 203.0.113.1", 429) // a spoofed left entry does not make a new client
		expect(t, ts, "203.0.113.2", 201)
		expect(t, ts, "2001:db8::1", 201, 201, 201)
		expect(t, ts, "2001:db8::2", 429)     // same /64
		expect(t, ts, "2001:db8:0:1::1", 201) // next /64
		expect(t, ts, "", 201, 201, 201, 429) // no header: the peer, 127.0.0.1
	})
}
