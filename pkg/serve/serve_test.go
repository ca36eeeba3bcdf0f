package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tusimg/tusimg/pkg/contentstore"
	"github.com/tusimg/tusimg/pkg/httperr"
)

const secret = "TOP SECRET: outside the image store"

type fixture struct {
	srv       *httptest.Server
	store     *contentstore.FS
	h         *Handler
	png, jpeg contentstore.Record
	pngData   []byte
	jpegData  []byte
	planted   string // a valid hash whose bytes exist only outside the store
	served    atomic.Int64
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return b
}

// publishBytes stores data through the real publish path.
func publishBytes(t testing.TB, s *contentstore.FS, dir string, data []byte, typ, ext string) contentstore.Record {
	t.Helper()
	src := filepath.Join(dir, "upload-"+strconv.Itoa(rand.Int()))
	if err := os.WriteFile(src, data, 0o640); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	rec, _, err := s.PublishFile(context.Background(), src, contentstore.Record{
		SHA256: hex.EncodeToString(sum[:]), Type: typ, Ext: ext, Width: 1, Height: 1, Frames: 1,
		UploadedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// newFixture starts the handler, mounted as the server mounts it, on a real
// FS store holding one PNG and one JPEG, and plants files a traversal would
// want: a secret next to the store and a file named by a valid hash in the
// store's root (not in the sharded layout) and next to the store.
func newFixture(t testing.TB, imageSize int) *fixture {
	t.Helper()
	base := t.TempDir()
	store, err := contentstore.NewFS(filepath.Join(base, "images"), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store, pngData: append([]byte("\x89PNG\r\n\x1a\n"), randomBytes(imageSize)...),
		jpegData: append([]byte("\xff\xd8\xff\xe0"), randomBytes(imageSize)...)}
	f.png = publishBytes(t, store, base, f.pngData, "image/png", "png")
	f.jpeg = publishBytes(t, store, base, f.jpegData, "image/jpeg", "jpg")
	sum := sha256.Sum256([]byte(secret))
	f.planted = hex.EncodeToString(sum[:])
	for _, p := range []string{"secret.txt", f.planted, filepath.Join("images", f.planted)} {
		if err := os.WriteFile(filepath.Join(base, p), []byte(secret), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	f.h = New(store, Options{
		OnServe:   func(n int64) { f.served.Add(n) },
		RequestID: func(*http.Request) string { return "req-1" },
	}, testLog(t))
	mux := http.NewServeMux()
	mux.Handle("GET /i/{name}", f.h)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, target string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// serveCase is one request of TestServe and what it must get.
type serveCase struct {
	name    string
	method  string
	target  string
	hdr     map[string]string
	status  int
	body    []byte            // exact body, when not nil
	headers map[string]string // exact header values
	code    string            // JSON error code, when not ""
}

func serveCases(f *fixture) []serveCase {
	png, jpg := f.png.SHA256, f.jpeg.SHA256
	n := strconv.Itoa(len(f.pngData))
	imageHeaders := map[string]string{
		"Content-Type":                 "image/png",
		"Content-Length":               n,
		"ETag":                         `"` + png + `"`,
		"Cache-Control":                "public, max-age=31536000, immutable",
		"X-Content-Type-Options":       "nosniff",
		"Content-Security-Policy":      "default-src 'none'; sandbox",
		"Cross-Origin-Resource-Policy": "cross-origin",
		"Accept-Ranges":                "bytes",
		"Last-Modified":                "", // absent: the ETag names the bytes (see ServeHTTP)
		"X-Request-Id":                 "",
	}
	return []serveCase{
		{name: "get", target: "/i/" + png, status: 200, body: f.pngData, headers: imageHeaders},
		{name: "get ext", target: "/i/" + png + ".png", status: 200, body: f.pngData, headers: imageHeaders},
		{name: "head", method: "HEAD", target: "/i/" + png, status: 200, body: []byte{}, headers: imageHeaders},
		{name: "jpg", target: "/i/" + jpg + ".jpg", status: 200, body: f.jpegData,
			headers: map[string]string{"Content-Type": "image/jpeg"}},
		{name: "jpeg alias", target: "/i/" + jpg + ".jpeg", status: 200, body: f.jpegData},
		{name: "jpe alias", target: "/i/" + jpg + ".jpe", status: 200, body: f.jpegData},
		{name: "escaped dot", target: "/i/" + png + "%2Epng", status: 200, body: f.pngData},
		{name: "ext mismatch", target: "/i/" + png + ".jpg", status: 404, code: "not_found"},
		{name: "jpeg as png", target: "/i/" + jpg + ".png", status: 404, code: "not_found"},
		{name: "unknown ext", target: "/i/" + png + ".html", status: 404, code: "not_found"},
		{name: "if-none-match", target: "/i/" + png, hdr: map[string]string{"If-None-Match": `"` + png + `"`},
			status: 304, body: []byte{}, headers: map[string]string{"ETag": `"` + png + `"`}},
		{name: "if-none-match star", target: "/i/" + png, hdr: map[string]string{"If-None-Match": "*"}, status: 304},
		{name: "if-none-match other", target: "/i/" + png, hdr: map[string]string{"If-None-Match": `"abc"`},
			status: 200, body: f.pngData},
		// Without a Last-Modified, If-Modified-Since is ignored (RFC 9110
		// 13.1.3); If-None-Match answers revalidations.
		{name: "if-modified-since", target: "/i/" + png,
			hdr: map[string]string{"If-Modified-Since": "Wed, 05 Mar 2025 00:00:00 GMT"}, status: 200, body: f.pngData},
		{name: "range", target: "/i/" + png, hdr: map[string]string{"Range": "bytes=0-9"}, status: 206,
			body: f.pngData[:10], headers: map[string]string{"Content-Range": "bytes 0-9/" + n, "Content-Length": "10",
				"Content-Type": "image/png"}},
		{name: "suffix range", target: "/i/" + png, hdr: map[string]string{"Range": "bytes=-4"}, status: 206,
			body: f.pngData[len(f.pngData)-4:]},
		{name: "unsatisfiable range", target: "/i/" + png, hdr: map[string]string{"Range": "bytes=99999-"},
			status: 416, headers: map[string]string{"Content-Range": "bytes */" + n}},
		{name: "if-range match", target: "/i/" + png,
			hdr: map[string]string{"Range": "bytes=0-9", "If-Range": `"` + png + `"`}, status: 206, body: f.pngData[:10]},
		{name: "if-range stale", target: "/i/" + png,
			hdr: map[string]string{"Range": "bytes=0-9", "If-Range": `"old"`}, status: 200, body: f.pngData},
		{name: "unknown", target: "/i/" + strings.Repeat("0", 64), status: 404, code: "not_found"},
		{name: "unknown head", method: "HEAD", target: "/i/" + strings.Repeat("0", 64), status: 404, body: []byte{}},
		{name: "planted outside store", target: "/i/" + f.planted, status: 404, code: "not_found"},
		{name: "planted ext", target: "/i/" + f.planted + ".png", status: 404, code: "not_found"},
		{name: "post", method: "POST", target: "/i/" + png, status: 405},
	}
}

func TestServe(t *testing.T) {
	f := newFixture(t, 1000)
	for _, tt := range serveCases(f) {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			resp, body := f.do(t, method, tt.target, tt.hdr)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tt.status, body)
			}
			if tt.body != nil && !bytes.Equal(body, tt.body) {
				t.Errorf("body: %d bytes, want %d (exact)", len(body), len(tt.body))
			}
			for k, v := range tt.headers {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if tt.code != "" {
				checkJSONError(t, resp, body, tt.code)
			}
			if bytes.Contains(body, []byte(secret)) {
				t.Fatal("served a file from outside the store")
			}
		})
	}
}

func checkJSONError(t *testing.T, resp *http.Response, body []byte, code string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type %q", ct)
	}
	var b httperr.Body
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if b.Error.Code != code || b.Error.RequestID != "req-1" {
		t.Errorf("error = %+v, want code %q with request id", b.Error, code)
	}
}

// TestServeHostileNames sends names that must never reach storage as a path:
// each gets 400, or 404 where ServeMux answers first (it cleans dot segments
// by redirecting), and never a byte of the planted files.
func TestServeHostileNames(t *testing.T) {
	f := newFixture(t, 100)
	png := f.png.SHA256
	tests := []struct {
		name, target string
		status       int // 0: 400 or 404
	}{
		{"uppercase hex", "/i/" + strings.ToUpper(png), 400},
		{"mixed case", "/i/A" + png[1:], 400},
		{"63 chars", "/i/" + png[:63], 400},
		{"65 chars", "/i/" + png + "0", 400},
		{"upper ext", "/i/" + png + ".PNG", 400},
		{"empty ext", "/i/" + png + ".", 400},
		{"double dot ext", "/i/" + png + "..png", 400},
		{"two exts", "/i/" + png + ".png.png", 400},
		{"digit ext", "/i/" + png + ".mp4", 400},
		{"long ext", "/i/" + png + ".abcdefghijk", 400},
		{"nul", "/i/%00", 400},
		{"nul after hash", "/i/" + png + "%00.png", 400},
		{"nul ext", "/i/" + png + ".png%00", 400},
		{"space", "/i/%20" + png, 400},
		{"dotdot", "/i/..", 0},
		{"traversal", "/i/../etc/passwd", 0},
		{"traversal to secret", "/i/../secret.txt", 0},
		{"encoded traversal", "/i/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 0},
		{"encoded dotdot", "/i/%2e%2e", 0},
		{"encoded slash", "/i/..%2Fsecret.txt", 400},
		{"encoded slash in hash", "/i/" + png[:32] + "%2F" + png[32:], 400},
		{"backslash", "/i/..%5Csecret.txt", 400},
		{"planted via traversal", "/i/..%2F" + f.planted, 400},
		{"trailing slash", "/i/" + png + "/", 404},
		{"record file", "/i/" + png + ".json", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "GET", tt.target, nil)
			t.Logf("GET %s -> %d (final, after redirects)", tt.target, resp.StatusCode)
			ok := resp.StatusCode == tt.status ||
				(tt.status == 0 && (resp.StatusCode == 400 || resp.StatusCode == 404))
			if !ok {
				t.Errorf("status %d, want %d (0: 400/404); body %q", resp.StatusCode, tt.status, body)
			}
			if bytes.Contains(body, []byte(secret)) || bytes.Contains(body, f.pngData) {
				t.Fatal("served file content for a hostile name")
			}
			if resp.StatusCode == 400 {
				checkJSONError(t, resp, body, "bad_hash")
			}
		})
	}
}
