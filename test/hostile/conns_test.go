package hostile_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/config"
)

// raiseNoFile makes sure the process may open need file descriptors,
// raising RLIMIT_NOFILE if it must, and skips the test if it cannot.
func raiseNoFile(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot read RLIMIT_NOFILE: %v", err)
	}
	if lim.Cur >= need {
		return
	}
	want := lim
	want.Cur = need
	if want.Max < need {
		want.Max = need // only root may raise the hard limit
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		t.Skipf("need %d file descriptors, RLIMIT_NOFILE is %d (hard %d) and cannot be raised: %v (try ulimit -n %d)",
			need, lim.Cur, lim.Max, err, need)
	}
}

type memSample struct {
	heapInuse, stackInuse, sys uint64
	goroutines                 int
	rss                        int64
}

func sampleMem() memSample {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	rss, _ := procStatus("VmRSS")
	return memSample{m.HeapInuse, m.StackInuse, m.Sys, runtime.NumGoroutine(), rss}
}

// TestManyIdleConnections opens 2,000 TCP connections that send nothing and
// 200 keep-alive connections that made one request and went idle (all raw,
// so the client side costs no goroutines or buffers), checks the server
// keeps answering /healthz and the keep-alive connections, measures the
// in-process heap and stack growth per connection, and checks that every
// server goroutine is gone once the connections close.
func TestManyIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("2,200 connections")
	}
	const idle, keepAlive = 2000, 200
	// Each connection is two descriptors here: the client's and the server's.
	raiseNoFile(t, 2*(idle+keepAlive)+512)
	ts := testserver.Start(t, func(c *config.Config) {
		c.ReadHeaderTimeout = time.Minute // the idle ones must outlive the test, not be cut
		c.IdleTimeout = time.Minute
	})
	// Warm up what the server builds lazily, then take the baseline without
	// any open connection.
	for range 3 {
		if resp, err := client.Get(ts.URL + "/healthz"); err == nil {
			resp.Body.Close()
		}
	}
	client.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	before := sampleMem()

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range idle {
		c, err := net.Dial("tcp", hostPort(ts))
		if err != nil {
			t.Fatalf("connection %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	var kas []*bufio.Reader
	for i := range keepAlive {
		c, err := net.Dial("tcp", hostPort(ts))
		if err != nil {
			t.Fatalf("keep-alive connection %d: %v", i, err)
		}
		conns = append(conns, c)
		br := bufio.NewReader(c)
		kas = append(kas, br)
		keepAliveGet(t, c, br)
	}
	// The server still answers new clients.
	for range 5 {
		resp, err := client.Get(ts.URL + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("/healthz with %d open connections: %v %v", len(conns), err, resp)
		}
		resp.Body.Close()
	}
	client.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	during := sampleMem()
	// The keep-alive connections are still served.
	for i, br := range kas {
		keepAliveGet(t, conns[idle+i], br)
	}

	n := int64(len(conns))
	heap := int64(during.heapInuse) - int64(before.heapInuse)
	stack := int64(during.stackInuse) - int64(before.stackInuse)
	per := (heap + stack) / n
	t.Logf("%d connections (%d idle, %d keep-alive): heap in use %s -> %s (+%d B/conn), stacks %s -> %s (+%d B/conn), "+
		"Sys %s -> %s, RSS %s -> %s, goroutines %d -> %d",
		n, idle, keepAlive, fmtMiB(int64(before.heapInuse)), fmtMiB(int64(during.heapInuse)), heap/n,
		fmtMiB(int64(before.stackInuse)), fmtMiB(int64(during.stackInuse)), stack/n,
		fmtMiB(int64(before.sys)), fmtMiB(int64(during.sys)), fmtMiB(before.rss), fmtMiB(during.rss),
		before.goroutines, during.goroutines)
	// Measured about 15.5 KiB per connection (11 KiB heap: the 4 KiB read and
	// write buffers and the conn state; 4.5 KiB stack); 32 KiB is a 2x margin.
	if per > 32<<10 {
		t.Errorf("%d bytes of heap and stack per idle connection, want < 32 KiB", per)
	}
	// One server goroutine per connection at least. Not baseline+n: the
	// baseline may hold goroutines of earlier tests' requests that tusd
	// keeps for --request-grace and that end meanwhile.
	if during.goroutines < int(n) {
		t.Errorf("%d goroutines with %d connections open (baseline %d): connections not held?", during.goroutines, n, before.goroutines)
	}

	for _, c := range conns {
		c.Close()
	}
	conns = nil
	deadline := time.Now().Add(15 * time.Second)
	after := runtime.NumGoroutine()
	for after > before.goroutines+10 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	t.Logf("goroutines after closing: %d (baseline %d)", after, before.goroutines)
	if after > before.goroutines+10 {
		t.Errorf("%d goroutines 15 s after closing every connection, baseline %d: leak", after, before.goroutines)
	}
}

// keepAliveGet sends GET /healthz on c and reads the whole answer, leaving
// the connection open.
func keepAliveGet(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatalf("keep-alive request: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("keep-alive response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("keep-alive response: %d, close %v", resp.StatusCode, resp.Close)
	}
}
