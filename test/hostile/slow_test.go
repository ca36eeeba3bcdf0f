package hostile_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/config"
)

// slowloris sends req one byte every pause on conn until the server closes
// the connection (or every byte is sent), and returns how long that took and
// how many bytes went out. A reader notices the close even while the writer
// sleeps; what the server sent before closing is returned too.
func slowloris(conn net.Conn, req string, pause time.Duration) (took time.Duration, sent int, got []byte) {
	start := time.Now()
	closed := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(conn) // returns on FIN or RST
		closed <- b
	}()
	for sent < len(req) {
		select {
		case got = <-closed:
			return time.Since(start), sent, got
		case <-time.After(pause):
		}
		if _, err := conn.Write([]byte{req[sent]}); err != nil {
			got = <-closed
			return time.Since(start), sent, got
		}
		sent++
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	return time.Since(start), sent, <-closed
}

// TestSlowlorisIsCut sends request headers one byte every 200 ms, on 20
// fresh connections and on one keep-alive connection after a first
// request, with ReadHeaderTimeout=1s. The headers would take 30 s; the
// server must close every connection within a few seconds, before the
// headers are complete, while serving normal requests and uploads.
func TestSlowlorisIsCut(t *testing.T) {
	ts := testserver.Start(t, func(c *config.Config) { c.ReadHeaderTimeout = time.Second })
	req := "POST /files/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 9332\r\n" +
		"X-Padding: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n\r\n"
	const fresh, pause, limit = 20, 200 * time.Millisecond, 6 * time.Second

	type result struct {
		took time.Duration
		sent int
		got  []byte
	}
	results := make([]result, fresh+1)
	var wg sync.WaitGroup
	for i := range fresh {
		conn, err := net.Dial("tcp", hostPort(ts))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		wg.Go(func() {
			took, sent, got := slowloris(conn, req, pause)
			results[i] = result{took, sent, got}
		})
	}
	// A keep-alive connection: one good request, then a slow second one.
	ka, err := net.Dial("tcp", hostPort(ts))
	if err != nil {
		t.Fatal(err)
	}
	defer ka.Close()
	if _, err := io.WriteString(ka, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	ka.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := ka.Read(buf); err != nil || n == 0 {
		t.Fatalf("first request on the keep-alive connection: %v", err)
	}
	ka.SetReadDeadline(time.Time{})
	wg.Go(func() {
		took, sent, got := slowloris(ka, req, pause)
		results[fresh] = result{took, sent, got}
	})

	// Meanwhile the server serves others.
	stop := make(chan struct{})
	var served, failed atomic.Int32
	var others sync.WaitGroup
	others.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
			if resp, err := client.Get(ts.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
				failed.Add(1)
			} else {
				resp.Body.Close()
				served.Add(1)
			}
		}
	})
	img := readTestdata(t, "ok.png")
	if resp, body := upload(t, ts, img, metadata("filename", "ok.png")); resp.StatusCode != 204 || resp.Header.Get("Image-Sha256") != sha(img) {
		t.Errorf("upload during slowloris: %d %s", resp.StatusCode, body)
	}
	wg.Wait()
	close(stop)
	others.Wait()

	var slowest time.Duration
	replies := map[string]int{}
	for i, r := range results {
		slowest = max(slowest, r.took)
		if r.took > limit || r.sent >= len(req) {
			t.Errorf("connection %d: open for %s, %d of %d header bytes sent: not cut by ReadHeaderTimeout", i, r.took.Round(time.Millisecond), r.sent, len(req))
		}
		replies[string(r.got)]++
	}
	for reply, n := range replies {
		t.Logf("%d connections got %q before the close", n, reply)
	}
	t.Logf("%d slowloris connections (%d-byte headers at one byte per %s) cut after at most %s; meanwhile %d /healthz served, %d failed",
		len(results), len(req), pause, slowest.Round(time.Millisecond), served.Load(), failed.Load())
	if failed.Load() != 0 || served.Load() == 0 {
		t.Errorf("normal requests during slowloris: %d served, %d failed", served.Load(), failed.Load())
	}
}

// TestManySlowUploadsAreNotCut runs 16 uploads at once, each moving slowly
// but steadily (a piece every 300 ms, about 4 s in all) under
// NetworkTimeout=1s and ReadHeaderTimeout=1s: none may be cut, all publish.
// (One slow upload, and a stalled one, are in pkg/server/hardening_test.go.)
func TestManySlowUploadsAreNotCut(t *testing.T) {
	ts := testserver.Start(t, func(c *config.Config) {
		c.NetworkTimeout = time.Second
		c.ReadHeaderTimeout = time.Second
	})
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := time.Now()
	for i := range n {
		img := noisePNG(t, int64(i+1), 48, 48)
		url := create(t, ts, len(img), metadata("filename", "slow.png"))
		wg.Go(func() {
			resp, err := slowPatch(url, &slowBody{b: img, n: len(img)/12 + 1, pause: 300 * time.Millisecond}, len(img))
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 204 || resp.Header.Get("Image-Sha256") != sha(img) {
				errs[i] = errors.New(resp.Status + ", Image-Sha256 " + resp.Header.Get("Image-Sha256"))
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("slow upload %d was cut or failed: %v", i, err)
		}
	}
	t.Logf("%d slow uploads (13 pieces, 300 ms apart, NetworkTimeout 1s) all finished in %s", n, time.Since(start).Round(time.Millisecond))
}

// TestStalledBodyOnNonUploadRoute declares a body on requests whose
// handlers never read one, and never sends it. Go's server waits for up to
// 256 KiB of an unread body before answering, and there is no whole-request
// ReadTimeout, so without limit.BodyDeadline such a request is never
// answered and holds its connection forever, past ReadHeaderTimeout. With
// it (NetworkTimeout=1s), the answer comes and the connection closes.
func TestStalledBodyOnNonUploadRoute(t *testing.T) {
	ts := testserver.Start(t, func(c *config.Config) { c.NetworkTimeout = time.Second })
	for _, req := range []string{
		"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
		"GET /api/v1/config HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /i/" + strings.Repeat("ab", 32) + " HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
		"DELETE /files/x HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nContent-Length: 10\r\n\r\n", // tusd answers this one already
	} {
		conn, err := net.Dial("tcp", hostPort(ts))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		io.WriteString(conn, req)
		conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		line, _, _ := strings.Cut(req, "\r\n")
		if err != nil {
			t.Errorf("%s with a body that never comes: no answer after %s: %v", line, time.Since(start).Round(time.Millisecond), err)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: connection still open %s after the answer: %v", line, time.Since(start).Round(time.Millisecond), err)
		}
		t.Logf("%s with a stalled body: %d, connection closed after %s", line, resp.StatusCode, time.Since(start).Round(time.Millisecond))
	}
}
