package contentstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tusimg/tusimg/internal/s3test"
	"github.com/tusimg/tusimg/pkg/contentstore"
	"github.com/tusimg/tusimg/pkg/s3blob"
	"github.com/tusimg/tusimg/pkg/serve"
)

// imageGets counts GETs of image bytes (not records) sent to S3.
type imageGets struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *imageGets) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/images/") && !strings.HasSuffix(r.URL.Path, ".json") {
		c.n.Add(1)
	}
	return c.next.RoundTrip(r)
}

// servePair publishes the same images into an FS and an S3 store and
// serves each with pkg/serve's handler, mounted as the server mounts it.
type servePair struct {
	fs, s3    *httptest.Server
	gets      *imageGets
	png, jpeg string // hashes
}

func newServePair(t *testing.T, diskCache bool) *servePair {
	srv := s3test.Start(t)
	gets := &imageGets{next: http.DefaultTransport}
	client := srv.NewClient(func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: gets} })
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	s3Store, err := contentstore.NewS3(client, s3blob.Options{Bucket: srv.Bucket, Prefix: "img/"}, log)
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	if diskCache {
		if err := s3Store.UseDiskCache(filepath.Join(base, "cache"), 64<<20); err != nil {
			t.Fatal(err)
		}
	}
	fsStore, err := contentstore.NewFS(filepath.Join(base, "images"), log)
	if err != nil {
		t.Fatal(err)
	}
	p := &servePair{gets: gets}
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, img := range []struct {
		sha      *string
		data     []byte
		typ, ext string
	}{
		{&p.png, append([]byte("\x89PNG\r\n\x1a\n"), randomBytes(1<<20)...), "image/png", "png"},
		{&p.jpeg, append([]byte("\xff\xd8\xff\xe0"), randomBytes(1000)...), "image/jpeg", "jpg"},
	} {
		sum := sha256.Sum256(img.data)
		*img.sha = hex.EncodeToString(sum[:])
		for _, s := range []contentstore.Store{fsStore, s3Store} {
			src := filepath.Join(base, "src")
			if err := os.WriteFile(src, img.data, 0o640); err != nil {
				t.Fatal(err)
			}
			rec := contentstore.Record{SHA256: *img.sha, Type: img.typ, Ext: img.ext, Width: 1, Height: 1,
				Frames: 1, UploadedAt: at}
			if _, _, err := s.PublishFile(context.Background(), src, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, hs := range []struct {
		srv   **httptest.Server
		store contentstore.Store
	}{{&p.fs, fsStore}, {&p.s3, s3Store}} {
		mux := http.NewServeMux()
		mux.Handle("GET /i/{name}", serve.New(hs.store, serve.Options{}, log))
		*hs.srv = httptest.NewServer(mux)
		t.Cleanup((*hs.srv).Close)
	}
	return p
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return b
}

// response is what a test compares: status, headers without Date, and the
// body, with a multipart boundary replaced by a fixed string.
type response struct {
	status int
	header http.Header
	body   []byte
}

func fetch(t *testing.T, srv *httptest.Server, method, target string, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Header.Del("Date")
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && params["boundary"] != "" {
		b := params["boundary"]
		resp.Header.Set("Content-Type", strings.ReplaceAll(resp.Header.Get("Content-Type"), b, "BOUNDARY"))
		body = bytes.ReplaceAll(body, []byte(b), []byte("BOUNDARY"))
	}
	return response{resp.StatusCode, resp.Header, body}
}

// TestS3ServeParity runs pkg/serve's handler on an S3 store (without and
// with the disk cache) and on an FS store holding the same images: every
// answer (status, every header but Date, body) must be identical, and the
// S3 store must answer each with at most one GET of image bytes (none for
// HEAD, 304, 416 and errors; none once an image is in the disk cache).
func TestS3ServeParity(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprint("disk cache ", cached), func(t *testing.T) {
			p := newServePair(t, cached)
			for pass := range 2 { // with a cache: filling, then served from disk
				for _, tt := range parityCases(p) {
					t.Run(tt.name, func(t *testing.T) { p.compare(t, tt, cached) })
				}
				if !cached {
					break
				}
				if pass == 1 && p.gets.n.Load() > 2 {
					t.Errorf("%d GETs of image bytes in all; want one per image", p.gets.n.Load())
				}
			}
		})
	}
}

type parityCase struct {
	name, method, target string
	hdr                  map[string]string
	status               int
	gets                 int64 // GETs of image bytes without a disk cache
}

func parityCases(p *servePair) []parityCase {
	png, jpg := p.png, p.jpeg
	etag := `"` + png + `"`
	return []parityCase{
		{"get", "GET", "/i/" + png, nil, 200, 1},
		{"get ext", "GET", "/i/" + png + ".png", nil, 200, 1},
		{"head", "HEAD", "/i/" + png, nil, 200, 0},
		{"jpg", "GET", "/i/" + jpg + ".jpg", nil, 200, 1},
		{"jpeg alias", "GET", "/i/" + jpg + ".jpeg", nil, 200, 1},
		{"ext mismatch", "GET", "/i/" + png + ".jpg", nil, 404, 0},
		{"if-none-match", "GET", "/i/" + png, map[string]string{"If-None-Match": etag}, 304, 0},
		{"if-none-match star", "GET", "/i/" + png, map[string]string{"If-None-Match": "*"}, 304, 0},
		{"if-none-match other", "GET", "/i/" + png, map[string]string{"If-None-Match": `"abc"`}, 200, 1},
		// No Last-Modified is sent, so If-Modified-Since is ignored.
		{"if-modified-since", "GET", "/i/" + png,
			map[string]string{"If-Modified-Since": "Wed, 05 Mar 2025 00:00:00 GMT"}, 200, 1},
		{"range head", "GET", "/i/" + png, map[string]string{"Range": "bytes=0-9"}, 206, 1},
		{"range middle", "GET", "/i/" + png, map[string]string{"Range": "bytes=500000-500099"}, 206, 1},
		{"range open", "GET", "/i/" + png, map[string]string{"Range": "bytes=1000000-"}, 206, 1},
		{"suffix range", "GET", "/i/" + png, map[string]string{"Range": "bytes=-4"}, 206, 1},
		{"multi range", "GET", "/i/" + png, map[string]string{"Range": "bytes=0-1,100-199"}, 206, 2},
		{"unsatisfiable", "GET", "/i/" + png, map[string]string{"Range": "bytes=99999999-"}, 416, 0},
		{"if-range match", "GET", "/i/" + png, map[string]string{"Range": "bytes=0-9", "If-Range": etag}, 206, 1},
		{"if-range stale", "GET", "/i/" + png, map[string]string{"Range": "bytes=0-9", "If-Range": `"old"`}, 200, 1},
		{"head range", "HEAD", "/i/" + png, map[string]string{"Range": "bytes=0-9"}, 206, 0},
		{"unknown", "GET", "/i/" + strings.Repeat("0", 64), nil, 404, 0},
		{"unknown head", "HEAD", "/i/" + strings.Repeat("0", 64), nil, 404, 0},
		{"bad hash", "GET", "/i/" + strings.ToUpper(png), nil, 400, 0},
		{"post", "POST", "/i/" + png, nil, 405, 0},
	}
}

// compare sends one request to both stores' handlers.
func (p *servePair) compare(t *testing.T, tt parityCase, cached bool) {
	want := fetch(t, p.fs, tt.method, tt.target, tt.hdr)
	before := p.gets.n.Load()
	got := fetch(t, p.s3, tt.method, tt.target, tt.hdr)
	if gets := p.gets.n.Load() - before; gets > tt.gets || (!cached && gets != tt.gets) {
		t.Errorf("S3 store: %d GETs of image bytes, want %d", gets, tt.gets)
	}
	if want.status != tt.status {
		t.Fatalf("FS store answered %d, want %d", want.status, tt.status)
	}
	if got.status != want.status {
		t.Fatalf("status %d, FS store %d", got.status, want.status)
	}
	for k := range mergeKeys(got.header, want.header) {
		if g, w := got.header.Values(k), want.header.Values(k); strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Errorf("header %s = %q, FS store %q", k, g, w)
		}
	}
	if !bytes.Equal(got.body, want.body) {
		t.Errorf("body: %d bytes, FS store %d (differ)", len(got.body), len(want.body))
	}
}

func mergeKeys(a, b http.Header) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}
