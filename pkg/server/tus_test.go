package server_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
)

// TestTusUploadLifecycle walks one upload through the whole protocol with a
// raw client: create, two PATCHes, HEAD in between, serve, retry, delete.
func TestTusUploadLifecycle(t *testing.T) {
	ts := testserver.Start(t, nil)
	img := readTestdata(t, "ok.png")
	url := create(t, ts, len(img), metadata("filename", "cat.png", "filetype", "image/png"))

	resp, body := patch(t, url, 0, img[:100])
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != "100" {
		t.Fatalf("first PATCH: %d offset %q %s", resp.StatusCode, resp.Header.Get("Upload-Offset"), body)
	}
	if exp, err := http.ParseTime(resp.Header.Get("Upload-Expires")); err != nil || time.Until(exp) < 23*time.Hour {
		t.Errorf("PATCH Upload-Expires = %q, want about 24h ahead", resp.Header.Get("Upload-Expires"))
	}
	resp, _ = tusReq(t, "HEAD", url, nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Upload-Offset") != "100" || resp.Header.Get("Upload-Length") != strconv.Itoa(len(img)) {
		t.Fatalf("HEAD mid-way: %d offset %q length %q", resp.StatusCode, resp.Header.Get("Upload-Offset"), resp.Header.Get("Upload-Length"))
	}
	if resp.Header.Get("Upload-Expires") == "" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("HEAD headers: %v", resp.Header)
	}

	resp, body = patch(t, url, 100, img[100:])
	want := sha(img)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Image-Sha256") != want {
		t.Fatalf("final PATCH: %d Image-Sha256 %q (want %s) %s", resp.StatusCode, resp.Header.Get("Image-Sha256"), want, body)
	}
	imageURL := resp.Header.Get("Image-Url")
	if imageURL != ts.URL+"/i/"+want+".png" {
		t.Fatalf("Image-Url = %q", imageURL)
	}
	resp, got := get(t, imageURL)
	if resp.StatusCode != 200 || string(got) != string(img) || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("GET image: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(got))
	}

	// A retried final PATCH (client lost the answer) gets the same outcome.
	resp, _ = patch(t, url, 100, img[100:])
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Image-Sha256") != want || resp.Header.Get("Image-Url") != imageURL {
		t.Fatalf("retried PATCH: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = tusReq(t, "HEAD", url, nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(img)) || resp.Header.Get("Image-Sha256") != want {
		t.Fatalf("HEAD after finish: %d %v", resp.StatusCode, resp.Header)
	}
	// DELETE after publish forgets the session but never removes the image.
	resp, _ = tusReq(t, "DELETE", url, nil, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	if resp, _ = tusReq(t, "HEAD", url, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD after DELETE: %d, want 404", resp.StatusCode)
	}
	if resp, got = get(t, imageURL); resp.StatusCode != 200 || string(got) != string(img) {
		t.Fatalf("image gone after DELETE of its upload: %d", resp.StatusCode)
	}
	if data, _ := uploadFiles(t, ts); len(data) != 0 {
		t.Errorf("upload area not empty: %v", data)
	}
}

// TestTusProtocolErrors covers the tus edge cases with their spec statuses.
func TestTusProtocolErrors(t *testing.T) {
	ts := testserver.Start(t, nil)
	img := readTestdata(t, "ok.png")
	url := create(t, ts, len(img), metadata("filename", "a.png"))
	patch(t, url, 0, img[:10])
	missing := ts.URL + "/files/0123456789abcdef0123456789abcdef"
	cases := []struct {
		name, method, url string
		hdr               map[string]string
		body              []byte
		status            int
	}{
		{"offset mismatch", "PATCH", url, map[string]string{"Upload-Offset": "5", "Content-Type": "application/offset+octet-stream"}, img[5:20], 409},
		{"wrong version", "PATCH", url, map[string]string{"Tus-Resumable": "0.2.2", "Upload-Offset": "10", "Content-Type": "application/offset+octet-stream"}, img[10:20], 412},
		{"no version on POST", "POST", ts.URL + "/files/", map[string]string{"Tus-Resumable": "", "Upload-Length": "10"}, nil, 412},
		{"too large", "POST", ts.URL + "/files/", map[string]string{"Upload-Length": strconv.Itoa(51 << 20)}, nil, 413},
		{"negative length", "POST", ts.URL + "/files/", map[string]string{"Upload-Length": "-1"}, nil, 400},
		{"overflowing length", "POST", ts.URL + "/files/", map[string]string{"Upload-Length": "99999999999999999999999"}, nil, 400},
		{"unknown id HEAD", "HEAD", missing, nil, nil, 404},
		{"unknown id PATCH", "PATCH", missing, map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, []byte("x"), 404},
		{"traversal id", "HEAD", ts.URL + "/files/..%2f..%2fetc%2fpasswd", nil, nil, 404},
		{"wrong content type", "PATCH", url, map[string]string{"Upload-Offset": "10", "Content-Type": "text/plain"}, img[10:20], 415},
		{"negative offset", "PATCH", url, map[string]string{"Upload-Offset": "-1", "Content-Type": "application/offset+octet-stream"}, img[:1], 400},
		{"chunk past length", "PATCH", url, map[string]string{"Upload-Offset": "10", "Content-Type": "application/offset+octet-stream"}, append(append([]byte{}, img[10:]...), 'x'), 413},
		{"download disabled", "GET", url, nil, nil, 405},
		{"bad base64 metadata", "POST", ts.URL + "/files/", map[string]string{"Upload-Length": "10", "Upload-Metadata": "filename !!!"}, nil, 400},
		{"duplicate metadata key", "POST", ts.URL + "/files/", map[string]string{"Upload-Length": "10", "Upload-Metadata": metadata("filename", "a.png", "filename", "b.png")}, nil, 400},
		{"oversized metadata", "POST", ts.URL + "/files/", map[string]string{"Upload-Length": "10", "Upload-Metadata": metadata("filename", strings.Repeat("a", 5000)+".png")}, nil, 400},
		{"type not allowed by name", "POST", ts.URL + "/files/", map[string]string{"Upload-Length": "10", "Upload-Metadata": metadata("filename", "evil.svg")}, nil, 415},
		{"type not allowed by filetype", "POST", ts.URL + "/files/", map[string]string{"Upload-Length": "10", "Upload-Metadata": metadata("filetype", "text/html")}, nil, 415},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := tusReq(t, c.method, c.url, c.hdr, c.body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, c.status, body)
			}
		})
	}
	// After all that, the upload is intact at offset 10 and can finish.
	resp, _ := tusReq(t, "HEAD", url, nil, nil)
	if resp.Header.Get("Upload-Offset") != "10" {
		t.Fatalf("offset after bad requests = %q, want 10", resp.Header.Get("Upload-Offset"))
	}
	if resp, body := patch(t, url, 10, img[10:]); resp.StatusCode != 204 || resp.Header.Get("Image-Sha256") != sha(img) {
		t.Fatalf("finish after errors: %d %s", resp.StatusCode, body)
	}
}

// TestTusOptionsAndCORS checks discovery and what browsers need.
func TestTusOptionsAndCORS(t *testing.T) {
	ts := testserver.Start(t, nil)
	resp, _ := tusReq(t, "OPTIONS", ts.URL+"/files/", map[string]string{"Origin": "http://example.test",
		"Access-Control-Request-Method": "POST"}, nil)
	if resp.StatusCode != 200 && resp.StatusCode != 204 {
		t.Fatalf("OPTIONS: %d", resp.StatusCode)
	}
	ext := resp.Header.Get("Tus-Extension")
	for _, want := range []string{"creation", "creation-with-upload", "creation-defer-length", "termination", "expiration"} {
		if !strings.Contains(ext, want) {
			t.Errorf("Tus-Extension %q lacks %s", ext, want)
		}
	}
	if strings.Contains(ext, "concatenation") {
		t.Errorf("Tus-Extension %q offers concatenation, which is off", ext)
	}
	if resp.Header.Get("Tus-Max-Size") != strconv.Itoa(50<<20) {
		t.Errorf("Tus-Max-Size = %q", resp.Header.Get("Tus-Max-Size"))
	}
	img := readTestdata(t, "ok.png")
	resp, _ = tusReq(t, "POST", ts.URL+"/files/", map[string]string{"Origin": "http://example.test",
		"Upload-Length": strconv.Itoa(len(img)), "Content-Type": "application/offset+octet-stream"}, img)
	expose := resp.Header.Get("Access-Control-Expose-Headers")
	for _, want := range []string{"Location", "Upload-Offset", "Image-Sha256", "Image-Url", "Upload-Expires"} {
		if !strings.Contains(expose, want) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", expose, want)
		}
	}
	if resp.StatusCode != 201 || resp.Header.Get("Image-Sha256") != sha(img) {
		t.Errorf("creation-with-upload of a whole image: %d, Image-Sha256 %q", resp.StatusCode, resp.Header.Get("Image-Sha256"))
	}
}

// TestTusDeferredLength uploads with Upload-Defer-Length and declares the
// length in the last PATCH.
func TestTusDeferredLength(t *testing.T) {
	ts := testserver.Start(t, nil)
	img := readTestdata(t, "ok.jpg")
	resp, body := tusReq(t, "POST", ts.URL+"/files/", map[string]string{"Upload-Defer-Length": "1"}, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("POST deferred: %d %s", resp.StatusCode, body)
	}
	url := resp.Header.Get("Location")
	patch(t, url, 0, img[:50])
	resp, body = tusReq(t, "PATCH", url, map[string]string{"Upload-Offset": "50", "Upload-Length": strconv.Itoa(len(img)),
		"Content-Type": "application/offset+octet-stream"}, img[50:])
	if resp.StatusCode != 204 || resp.Header.Get("Image-Sha256") != sha(img) {
		t.Fatalf("final deferred PATCH: %d %s", resp.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(ts.Data, "images", sha(img)[:2], sha(img)[2:4], sha(img))); err != nil {
		t.Fatalf("published file missing: %v", err)
	}
}
