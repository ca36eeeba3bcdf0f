package limit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustConcurrency(t testing.TB, max int, o ConcurrencyOptions) *Concurrency {
	t.Helper()
	l, err := NewConcurrency(max, o)
	if err != nil {
		t.Fatalf("NewConcurrency: %v", err)
	}
	return l
}

func TestNewConcurrencyRejectsBadMax(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := NewConcurrency(n, ConcurrencyOptions{}); err == nil {
			t.Errorf("NewConcurrency(%d) accepted", n)
		}
	}
}

func TestIsUpload(t *testing.T) {
	cases := []struct {
		method, override string
		length           int64
		upload, creation bool
	}{
		{"PATCH", "", 100, true, false},
		{"PATCH", "", 0, true, false},
		{"POST", "", 100, true, true},
		{"POST", "", -1, true, true}, // chunked
		{"POST", "", 0, false, true},
		{"POST", "PATCH", 100, true, false},
		{"POST", "patch", 0, true, false},
		{"POST", "HEAD", 0, false, false},
		{"POST", "DELETE", 0, false, false},
		{"GET", "", 0, false, false},
		{"HEAD", "", 0, false, false},
		{"OPTIONS", "", 0, false, false},
		{"DELETE", "", 0, false, false},
		{"GET", "PATCH", 0, false, false}, // override honoured on POST only
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "/files/x", nil)
		r.ContentLength = c.length
		if c.override != "" {
			r.Header.Set("X-HTTP-Method-Override", c.override)
		}
		if got := IsUpload(r); got != c.upload {
			t.Errorf("IsUpload(%s override %q length %d) = %v", c.method, c.override, c.length, got)
		}
		if got := IsCreation(r); got != c.creation {
			t.Errorf("IsCreation(%s override %q length %d) = %v", c.method, c.override, c.length, got)
		}
	}
}

// gate is a handler that blocks counted requests until released.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 100), release: make(chan struct{})} }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if IsUpload(r) {
		g.entered <- struct{}{}
		<-g.release
	}
	w.WriteHeader(204)
}

func TestConcurrencyLimits(t *testing.T) {
	var rejected []string
	l := mustConcurrency(t, 2, ConcurrencyOptions{Rejection: Rejection{OnReject: func(c string) { rejected = append(rejected, c) }}})
	g := newGate()
	h := l.Wrap(g)
	serve := func(method string, length int64, body io.ReadCloser) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/files/x", nil)
		if body != nil {
			r.Body = body
		}
		r.ContentLength = length
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	var wg sync.WaitGroup
	for _, m := range []string{"PATCH", "POST"} {
		wg.Go(func() {
			if w := serve(m, 10, nil); w.Code != 204 {
				t.Errorf("admitted %s: %d", m, w.Code)
			}
		})
		<-g.entered
	}
	if n := l.InFlight(); n != 2 {
		t.Fatalf("InFlight = %d, want 2", n)
	}
	body := &countingBody{}
	w := serve("PATCH", 1<<20, body)
	if w.Code != 503 || w.Header().Get("Retry-After") != "1" || w.Header().Get("Connection") != "close" ||
		!strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("third upload: %d %v", w.Code, w.Header())
	}
	if !strings.Contains(w.Body.String(), `"code":"too_busy"`) || !strings.Contains(w.Body.String(), "retry") {
		t.Fatalf("503 body: %s", w.Body)
	}
	if body.reads != 0 {
		t.Fatalf("the refused body was read %d times", body.reads)
	}
	if w := serve("POST", -1, nil); w.Code != 503 {
		t.Fatalf("chunked POST while full: %d", w.Code)
	}
	// Requests that carry no upload are never limited.
	for _, c := range []struct {
		method string
		length int64
	}{{"GET", 0}, {"HEAD", 0}, {"OPTIONS", 0}, {"DELETE", 0}, {"POST", 0}} {
		if w := serve(c.method, c.length, nil); w.Code != 204 {
			t.Fatalf("%s while full: %d", c.method, w.Code)
		}
	}
	close(g.release)
	wg.Wait()
	if n := l.InFlight(); n != 0 {
		t.Fatalf("InFlight after all returned = %d", n)
	}
	if w := serve("PATCH", 10, nil); w.Code != 204 {
		t.Fatalf("PATCH after slots freed: %d", w.Code)
	}
	if len(rejected) != 2 || rejected[0] != "too_busy" {
		t.Fatalf("OnReject saw %v", rejected)
	}
}

func TestConcurrencyReleasesOnPanic(t *testing.T) {
	l := mustConcurrency(t, 1, ConcurrencyOptions{})
	h := l.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	for range 3 {
		func() {
			defer func() { _ = recover() }()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("PATCH", "/files/x", nil))
		}()
		if n := l.InFlight(); n != 0 {
			t.Fatalf("slot kept after a panic: InFlight = %d", n)
		}
	}
}

func TestConcurrencyPredicate(t *testing.T) {
	onlyImages := func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/v1/images") }
	l := mustConcurrency(t, 1, ConcurrencyOptions{Counts: onlyImages})
	block := make(chan struct{})
	entered := make(chan struct{})
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if onlyImages(r) && r.URL.Query().Get("block") != "" {
			entered <- struct{}{}
			<-block
		}
	}))
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/images?block=1", nil))
		close(done)
	}()
	<-entered
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/images", nil))
	if w.Code != 503 {
		t.Fatalf("counted by the predicate: %d", w.Code)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("PATCH", "/files/x", bytes.NewReader([]byte("x"))))
	if w.Code != 200 {
		t.Fatalf("not counted by the predicate: %d", w.Code)
	}
	close(block)
	<-done
}

// TestConcurrencyRefusesStalledBodyAtOnce runs the limiter in a real HTTP
// server and sends refused uploads whose body never arrives (chunked, and a
// Content-Length under Go's 256 KiB drain threshold, which the server would
// otherwise wait for before answering): the 503 comes at once, and the
// server closes the connection within drainTimeout instead of waiting on
// the body forever.
func TestConcurrencyRefusesStalledBodyAtOnce(t *testing.T) {
	l := mustConcurrency(t, 1, ConcurrencyOptions{})
	g := newGate()
	srv := httptest.NewServer(l.Wrap(g))
	defer srv.Close()
	defer close(g.release)
	go func() {
		req, _ := http.NewRequest("PATCH", srv.URL+"/files/a", strings.NewReader("x"))
		if resp, err := srv.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-g.entered
	for _, framing := range []string{"Transfer-Encoding: chunked", "Content-Length: 1000"} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		fmt.Fprintf(conn, "PATCH /files/b HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n", framing)
		conn.SetReadDeadline(time.Now().Add(drainTimeout + 10*time.Second))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", framing, err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 503 || !resp.Close {
			t.Fatalf("%s: %d, close %v", framing, resp.StatusCode, resp.Close)
		}
		if d := time.Since(start); d > drainTimeout/2 {
			t.Fatalf("%s: the 503 took %s: the server waited on the body", framing, d)
		}
		if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: connection not closed by the server %s after the 503: %v", framing, time.Since(start), err)
		}
	}
}
