package limit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// ignoreBody answers without reading the body, like /healthz.
var ignoreBody = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })

// stalledRequest sends headers declaring a body that never comes and
// returns the answer, or an error when none came within wait. The caller
// closes conn (before closing the server, which waits for the request).
func stalledRequest(t *testing.T, addr, framing string, wait time.Duration) (conn net.Conn, resp *http.Response, br *bufio.Reader, err error) {
	t.Helper()
	conn, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n", framing)
	conn.SetReadDeadline(time.Now().Add(wait))
	br = bufio.NewReader(conn)
	resp, err = http.ReadResponse(br, nil)
	return conn, resp, br, err
}

// TestBodyDeadlineFreesStalledBodies: without BodyDeadline, a declared body
// that never comes keeps a non-reading handler's answer and connection
// forever; with it, the answer comes after d and the connection closes.
func TestBodyDeadlineFreesStalledBodies(t *testing.T) {
	bare := httptest.NewServer(ignoreBody)
	defer bare.Close()
	conn, _, _, err := stalledRequest(t, bare.Listener.Addr().String(), "Content-Length: 10", time.Second)
	conn.Close()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("without BodyDeadline the server answered: %v (the premise of BodyDeadline changed)", err)
	}

	const d = 300 * time.Millisecond
	srv := httptest.NewServer(BodyDeadline(d, ignoreBody))
	defer srv.Close()
	for _, framing := range []string{"Content-Length: 10", "Transfer-Encoding: chunked"} {
		start := time.Now()
		conn, resp, br, err := stalledRequest(t, srv.Listener.Addr().String(), framing, d+10*time.Second)
		t.Cleanup(func() { conn.Close() })
		if err != nil {
			t.Fatalf("%s: no answer %s after the headers: %v", framing, time.Since(start), err)
		}
		if resp.StatusCode != 204 {
			t.Fatalf("%s: %d", framing, resp.StatusCode)
		}
		if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: connection not closed after the answer: %v", framing, err)
		}
	}
	// A request without a body keeps its connection.
	resp, err := srv.Client().Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 204 || resp.Close {
		t.Fatalf("GET without a body: %v %+v", err, resp)
	}
	resp.Body.Close()
}

// TestBodyDeadlineLetsMovingBodiesThrough reads a body that arrives in
// pieces 150 ms apart, over 4x d, moving the deadline on every read as tusd
// and the one-shot upload do: it is not cut.
func TestBodyDeadlineLetsMovingBodiesThrough(t *testing.T) {
	const d = 300 * time.Millisecond
	srv := httptest.NewServer(BodyDeadline(d, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		buf := make([]byte, 64)
		total := 0
		for {
			n, err := r.Body.Read(buf)
			total += n
			_ = rc.SetReadDeadline(time.Now().Add(d))
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusRequestTimeout)
				return
			}
		}
		fmt.Fprint(w, total)
	})))
	defer srv.Close()
	pr, pw := io.Pipe()
	go func() {
		for range 8 {
			time.Sleep(150 * time.Millisecond)
			pw.Write([]byte("0123456789"))
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", srv.URL, pr)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "80" {
		t.Fatalf("moving body: %d %s", resp.StatusCode, b)
	}
}
