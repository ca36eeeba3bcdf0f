package server_test

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testenv"
	"github.com/tusimg/tusimg/internal/testserver"
)

// TestClientGoneIsAWarningWithOurRequestID: a client that drops a PATCH
// halfway is what a resumable protocol is for: tusd's BodyReadError is
// logged as a warning, not an error, and carries the request id of our
// access log line for that request.
func TestClientGoneIsAWarningWithOurRequestID(t *testing.T) {
	var log testenv.SyncBuffer
	ts := testserver.StartLogged(t, nil, &log)
	loc := create(t, ts, 1000, metadata("filename", "a.png"))
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(loc, ts.URL)
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nContent-Length: 1000\r\n\r\n\x89PNG\r\n\x1a\n", path)
	time.Sleep(100 * time.Millisecond)
	_ = conn.Close()

	line := regexp.MustCompile(`level=(\w+) msg=BodyReadError .*requestId=(\w+)`)
	deadline := time.Now().Add(10 * time.Second)
	var m []string
	for m == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		m = line.FindStringSubmatch(log.String())
	}
	if m == nil {
		t.Fatalf("no BodyReadError with a request id logged:\n%s", log.String())
	}
	if m[1] != "WARN" {
		t.Errorf("BodyReadError logged at %s, want WARN", m[1])
	}
	access := false
	sc := bufio.NewScanner(strings.NewReader(log.String()))
	for sc.Scan() {
		l := sc.Text()
		access = access || strings.Contains(l, "msg=http.request") && strings.Contains(l, "method=PATCH") &&
			strings.Contains(l, "request_id="+m[2])
	}
	if !access {
		t.Errorf("no PATCH access log line with request_id=%s:\n%s", m[2], log.String())
	}
}
