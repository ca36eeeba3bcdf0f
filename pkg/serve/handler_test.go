package serve

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/tusimg/tusimg/pkg/contentstore"
)

// fakeStore is a contentstore.Store whose methods are function fields.
type fakeStore struct {
	get  func(ctx context.Context, sha string) (contentstore.Record, error)
	open func(ctx context.Context, sha string) (contentstore.Object, error)
}

var _ contentstore.Store = (*fakeStore)(nil)

func (s *fakeStore) PublishFile(context.Context, string, contentstore.Record) (contentstore.Record, bool, error) {
	return contentstore.Record{}, false, errors.New("fake: not implemented")
}
func (s *fakeStore) Get(ctx context.Context, sha string) (contentstore.Record, error) {
	return s.get(ctx, sha)
}
func (s *fakeStore) Open(ctx context.Context, sha string) (contentstore.Object, error) {
	return s.open(ctx, sha)
}
func (s *fakeStore) List(context.Context, string, int) ([]contentstore.Record, error) {
	return nil, nil
}
func (s *fakeStore) Ready(context.Context) error { return nil }

// TestDirectPath calls the handler without a mux: the name comes from the
// last segment of the escaped path.
func TestDirectPath(t *testing.T) {
	f := newFixture(t, 100)
	png := f.png.SHA256
	tests := []struct {
		target string
		status int
	}{
		{"/i/" + png + ".png", 200},
		{"/anything/" + png, 200},
		{"/i/" + png + ".gif", 404},
		{"/i/..%2Fsecret.txt", 400},
		{"/i/" + png + "%2F..", 400},
		{"/i/../" + f.planted, 404},
		{"/i/", 400},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", tt.target, nil)
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != tt.status {
			t.Errorf("%s: status %d, want %d", tt.target, w.Code, tt.status)
		}
		if strings.Contains(w.Body.String(), secret) {
			t.Errorf("%s: served the planted secret", tt.target)
		}
	}
	r := httptest.NewRequest("DELETE", "/i/"+png, nil)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("DELETE: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

func TestInternalErrorHidden(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	leak := "disk on fire at /var/lib/tusimg/images"
	tests := map[string]*fakeStore{
		"get": {get: func(context.Context, string) (contentstore.Record, error) {
			return contentstore.Record{}, errors.New(leak)
		}},
		"open": {
			get: func(context.Context, string) (contentstore.Record, error) {
				return contentstore.Record{SHA256: sha, Type: "image/png", Ext: "png"}, nil
			},
			open: func(context.Context, string) (contentstore.Object, error) { return nil, errors.New(leak) },
		},
	}
	for name, store := range tests {
		t.Run(name, func(t *testing.T) {
			h := New(store, Options{RequestID: func(*http.Request) string { return "req-1" }}, testLog(t))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/i/"+sha, nil))
			if w.Code != 500 || strings.Contains(w.Body.String(), "fire") {
				t.Errorf("status %d body %q", w.Code, w.Body)
			}
			if !strings.Contains(w.Body.String(), `"request_id":"req-1"`) ||
				!strings.Contains(w.Body.String(), `"internal_error"`) {
				t.Errorf("body %q lacks code or request id", w.Body)
			}
		})
	}
}

func TestUnsafeTypeServedAsAttachment(t *testing.T) {
	for _, typ := range []string{"image/svg+xml", "text/html", "", "image/png; charset=x", "image/"} {
		ct, safe := servedType(typ)
		if safe || ct != "application/octet-stream" {
			t.Errorf("servedType(%q) = %q, %v", typ, ct, safe)
		}
	}
	for _, typ := range []string{"image/png", "image/jpeg", "image/avif"} {
		if ct, safe := servedType(typ); !safe || ct != typ {
			t.Errorf("servedType(%q) = %q, %v", typ, ct, safe)
		}
	}
}

func TestOnServeCountsBodyBytes(t *testing.T) {
	f := newFixture(t, 5000)
	png := f.png.SHA256
	f.do(t, "GET", "/i/"+png, nil)
	f.do(t, "HEAD", "/i/"+png, nil)
	f.do(t, "GET", "/i/"+png, map[string]string{"Range": "bytes=10-19"})
	f.do(t, "GET", "/i/"+png, map[string]string{"If-None-Match": `"` + png + `"`})
	f.do(t, "GET", "/i/"+strings.Repeat("0", 64), nil)
	if got, want := f.served.Load(), int64(len(f.pngData)+10); got != want {
		t.Errorf("OnServe total %d, want %d", got, want)
	}
}

// readerFromRecorder records what ServeContent hands to ReadFrom.
type readerFromRecorder struct {
	*httptest.ResponseRecorder
	src io.Reader
}

func (r *readerFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.src = src
	return io.Copy(r.ResponseRecorder, src)
}

// TestSendfilePathPreserved proves the counting wrapper keeps the fast path:
// the connection's ReadFrom receives an *io.LimitedReader over something
// implementing syscall.Conn, which is what net's sendFile needs.
func TestSendfilePathPreserved(t *testing.T) {
	f := newFixture(t, 100)
	w := &readerFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	f.h.ServeHTTP(w, httptest.NewRequest("GET", "/i/"+f.png.SHA256, nil))
	lr, ok := w.src.(*io.LimitedReader)
	if !ok {
		t.Fatalf("ReadFrom got %T, want *io.LimitedReader", w.src)
	}
	if _, ok := lr.R.(syscall.Conn); !ok {
		t.Fatalf("LimitedReader wraps %T, which does not implement syscall.Conn", lr.R)
	}
	if w.Body.Len() != len(f.pngData) {
		t.Errorf("body %d bytes, want %d", w.Body.Len(), len(f.pngData))
	}
}

var strictName = regexp.MustCompile(`^[0-9a-f]{64}(\.[a-z]{1,10})?$`)

func FuzzParseName(f *testing.F) {
	sha := strings.Repeat("0123456789abcdef", 4)
	for _, s := range []string{
		sha, sha + ".png", sha + ".jpeg", sha + ".PNG", strings.ToUpper(sha), sha[:63], sha + "0",
		sha + ".", sha + "..png", sha + ".png.png", sha + "/", "../" + sha, sha + "\x00", sha + ".p\x00g",
		"", ".", "..", "%2e%2e%2f", sha + ".abcdefghij", sha + ".abcdefghijk", sha + ".jp2", sha + "é",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		gotSHA, ext, err := ParseName(name)
		if want := strictName.MatchString(name); (err == nil) != want {
			t.Fatalf("ParseName(%q) err = %v, strict form: %v", name, err, want)
		}
		if err != nil {
			if gotSHA != "" || ext != "" {
				t.Fatalf("ParseName(%q) returned %q, %q with error", name, gotSHA, ext)
			}
			return
		}
		rebuilt := gotSHA
		if ext != "" {
			rebuilt += "." + ext
		}
		if rebuilt != name || !contentstore.ValidSHA256(gotSHA) {
			t.Fatalf("ParseName(%q) = %q, %q", name, gotSHA, ext)
		}
	})
}
