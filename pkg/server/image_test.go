package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tusimg/tusimg/internal/testserver"
)

// TestImageRequestID checks the image route (which keeps no request
// context) gives its error answers a request id, echoes a client's plain
// one and puts it in the JSON, and sends images without one.
func TestImageRequestID(t *testing.T) {
	ts := testserver.Start(t, nil)
	img := readTestdata(t, "ok.png")
	url := create(t, ts, len(img), metadata("filename", "a.png"))
	if resp, body := patch(t, url, 0, img); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	do := func(path, id string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		if id != "" {
			req.Header.Set("X-Request-ID", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp, b.String()
	}
	// An image carries no request id (it would cost a ninth header on
	// every image; see wrapLean); errors do.
	if resp, _ := do("/i/"+sha(img), "client-id-1"); resp.StatusCode != 200 || resp.Header.Get("X-Request-ID") != "" {
		t.Fatalf("image: %d, X-Request-ID %q", resp.StatusCode, resp.Header.Get("X-Request-ID"))
	}
	resp, _ := do("/i/"+strings.Repeat("0", 64), "")
	if resp.StatusCode != 404 || len(resp.Header.Get("X-Request-ID")) != 16 {
		t.Fatalf("404: %d, X-Request-ID %q", resp.StatusCode, resp.Header.Get("X-Request-ID"))
	}
	if resp, _ := do("/i/"+strings.Repeat("0", 64), "bad id;drop"); resp.Header.Get("X-Request-ID") == "bad id;drop" || resp.Header.Get("X-Request-ID") == "" {
		t.Errorf("a bad client id must be replaced: %q", resp.Header.Get("X-Request-ID"))
	}
	resp, body := do("/i/"+strings.Repeat("0", 64), "client-id-2")
	if resp.Header.Get("X-Request-ID") != "client-id-2" {
		t.Errorf("client id not echoed on an error: %q", resp.Header.Get("X-Request-ID"))
	}
	var e struct {
		Error struct {
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != 404 || e.Error.RequestID != "client-id-2" {
		t.Errorf("404: %d, request_id %q (%v): %s", resp.StatusCode, e.Error.RequestID, err, body)
	}
}
