package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tusimg/tusimg/pkg/contentstore"
)

// countingStore counts Open calls on a real store.
type countingStore struct {
	contentstore.Store
	opens atomic.Int64
	fail  error // Open fails with it when set
}

func (s *countingStore) Open(ctx context.Context, sha string) (contentstore.Object, error) {
	s.opens.Add(1)
	if s.fail != nil {
		return nil, s.fail
	}
	return s.Store.Open(ctx, sha)
}

// TestBytesOpenedOnlyForABody checks the image is opened exactly when a
// body is sent: never for HEAD, 304, 412 or 416.
func TestBytesOpenedOnlyForABody(t *testing.T) {
	f := newFixture(t, 3000)
	cs := &countingStore{Store: f.store}
	h := New(cs, Options{}, testLog(t))
	png, etag := f.png.SHA256, `"`+f.png.SHA256+`"`
	for _, tc := range []struct {
		name   string
		method string
		hdr    map[string]string
		status int
		opens  int64
	}{
		{"get", "GET", nil, 200, 1},
		{"head", "HEAD", nil, 200, 0},
		{"304", "GET", map[string]string{"If-None-Match": etag}, 304, 0},
		{"head 304", "HEAD", map[string]string{"If-None-Match": etag}, 304, 0},
		{"412", "GET", map[string]string{"If-Match": `"other"`}, 412, 0},
		{"416", "GET", map[string]string{"Range": "bytes=999999-"}, 416, 0},
		{"range", "GET", map[string]string{"Range": "bytes=100-199"}, 206, 1},
		{"head range", "HEAD", map[string]string{"Range": "bytes=100-199"}, 206, 0},
	} {
		cs.opens.Store(0)
		r := httptest.NewRequest(tc.method, "/i/"+png, nil)
		for k, v := range tc.hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status || cs.opens.Load() != tc.opens {
			t.Errorf("%s: status %d, %d opens; want %d, %d", tc.name, w.Code, cs.opens.Load(), tc.status, tc.opens)
		}
		if tc.name == "range" && !bytes.Equal(w.Body.Bytes(), f.pngData[100:200]) {
			t.Errorf("range: wrong bytes")
		}
	}
}

// TestMultipleRanges reads two ranges: ServeContent reads them from a
// goroutine of its own.
func TestMultipleRanges(t *testing.T) {
	f := newFixture(t, 3000)
	resp, body := f.do(t, "GET", "/i/"+f.png.SHA256, map[string]string{"Range": "bytes=0-9,2000-2009"})
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 206 || err != nil {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for _, want := range [][]byte{f.pngData[:10], f.pngData[2000:2010]} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(p)
		if !bytes.Equal(got, want) {
			t.Errorf("part %q, want %q", got, want)
		}
	}
}

// TestOpenFailsLate checks that an open failing when the body is due gives
// the same answer as one failing first: our JSON error, none of the image
// headers (above all no year-long Cache-Control), nothing counted served.
func TestOpenFailsLate(t *testing.T) {
	f := newFixture(t, 3000)
	for name, fail := range map[string]error{
		"gone":     contentstore.ErrNotFound,
		"internal": errors.New("disk on fire at /var/lib/tusimg"),
	} {
		cs := &countingStore{Store: f.store, fail: fail}
		var served atomic.Int64
		h := New(cs, Options{OnServe: func(n int64) { served.Add(1) }, RequestID: func(*http.Request) string { return "req-1" }},
			testLog(t))
		for _, hdr := range []map[string]string{nil, {"Range": "bytes=0-9"}, {"Range": "bytes=0-9,20-29"}} {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/i/"+f.png.SHA256, nil)
			for k, v := range hdr {
				r.Header.Set(k, v)
			}
			h.ServeHTTP(w, r)
			want := map[string]int{"gone": 404, "internal": 500}[name]
			if w.Code != want || !strings.Contains(w.Body.String(), `"request_id":"req-1"`) || strings.Contains(w.Body.String(), "fire") {
				t.Errorf("%s %v: %d %q", name, hdr, w.Code, w.Body)
			}
			if cc := w.Header().Get("Cache-Control"); strings.Contains(cc, "immutable") {
				t.Errorf("%s %v: error answer cached as an image: %q", name, hdr, cc)
			}
			for _, k := range []string{"Etag", "Last-Modified", "Accept-Ranges", "Content-Range", "Content-Security-Policy"} {
				if v := w.Header().Get(k); v != "" {
					t.Errorf("%s %v: error answer has %s: %q", name, hdr, k, v)
				}
			}
		}
		if served.Load() != 0 {
			t.Errorf("%s: OnServe called %d times for error answers", name, served.Load())
		}
		// HEAD needs no bytes, so it still answers from the record.
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("HEAD", "/i/"+f.png.SHA256, nil))
		if w.Code != 200 {
			t.Errorf("%s: HEAD %d", name, w.Code)
		}
	}
}

// shortStore serves bytes shorter than their record.
type shortStore struct{ contentstore.Store }

func (s shortStore) Get(ctx context.Context, sha string) (contentstore.Record, error) {
	rec, err := s.Store.Get(ctx, sha)
	rec.Size++
	return rec, err
}

// TestSizeMismatchRefused checks bytes of another length than the record
// are never served.
func TestSizeMismatchRefused(t *testing.T) {
	f := newFixture(t, 3000)
	h := New(shortStore{f.store}, Options{}, testLog(t))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/i/"+f.png.SHA256, nil))
	if w.Code != 500 || bytes.Contains(w.Body.Bytes(), f.pngData[:100]) {
		t.Errorf("status %d, %d bytes", w.Code, w.Body.Len())
	}
}
