// Package crash_test proves tusimg's fault tolerance against the real binary
// run as a child process: kill -9 during a PATCH, during publish and during
// the janitor, recovery time with a populated data directory, a full disk,
// concurrent PATCHes on one upload and a graceful shutdown under load. After
// every crash an invariant checker walks the data directory: every stored
// image hashes to its name and has a matching record, and the upload area
// holds nothing but outcomes, the run marker and live sessions.
//
// The tests build ./cmd/tusimg once (TestMain) and talk raw tus over
// loopback. TUSIMG_TEST_LOG=1 copies the servers' logs to the test output;
// TUSIMG_CRASH_BIN=path uses a prebuilt binary instead of building one.
package crash_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPath is the tusimg binary built by TestMain.
var binPath string

// repoRoot is the repository root (../.. from this package).
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash: repo root:", err)
		return 1
	}
	repoRoot = root
	if bin := os.Getenv("TUSIMG_CRASH_BIN"); bin != "" {
		binPath = bin // a prebuilt binary (e.g. of another revision)
		fmt.Fprintln(os.Stderr, "crash: using", binPath)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "tusimg-crash-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "tusimg")
	build := exec.Command("go", "build", "-o", binPath, "./cmd/tusimg")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "crash: go build ./cmd/tusimg:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "crash: built %s in %s\n", binPath, time.Since(start).Round(time.Millisecond))
	return m.Run()
}

// logLine is one JSON log record of the server.
type logLine struct {
	at  time.Time // when the test read it
	raw string
	m   map[string]any
}

func (l logLine) msg() string {
	s, _ := l.m["msg"].(string)
	return s
}

// proc is a tusimg server running as a child process.
type proc struct {
	t       testing.TB
	cmd     *exec.Cmd
	data    string
	addr    string
	URL     string
	client  *http.Client
	started time.Time // when the process was started
	ready   time.Time // when server.started was read

	mu    sync.Mutex
	lines []logLine
	seen  chan struct{} // closed and replaced whenever a line arrives

	exited  chan struct{}
	exitErr error
}

// serverOpts configures startServer.
type serverOpts struct {
	env  []string // extra environment, KEY=VALUE
	args []string // extra serve flags
	// noWait returns before server.started (the caller waits).
	noWait bool
}

// startServer runs `tusimg serve` on 127.0.0.1:0 with data dir data and waits
// for its server.started log line. The process is SIGKILLed when the test ends
// if it still runs.
func startServer(t testing.TB, data string, o serverOpts) *proc {
	t.Helper()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data", data, "--log-format", "json"}, o.args...)
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), o.env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	p := &proc{t: t, cmd: cmd, data: data, seen: make(chan struct{}), exited: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tusimg: %v", err)
	}
	readDone := make(chan struct{})
	go p.readLogs(stderr, readDone)
	go func() {
		<-readDone // Wait closes the pipe: read everything first
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() || os.Getenv("TUSIMG_TEST_LOG") != "" {
			p.dumpLogs(60)
		}
	})
	if !o.noWait {
		p.waitStarted(30 * time.Second)
	}
	return p
}

func (p *proc) readLogs(r io.Reader, done chan struct{}) {
	defer close(done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		l := logLine{at: time.Now(), raw: sc.Text()}
		if json.Unmarshal([]byte(l.raw), &l.m) != nil {
			l.m = map[string]any{}
		}
		if os.Getenv("TUSIMG_TEST_LOG") != "" {
			fmt.Fprintln(os.Stderr, "server:", l.raw)
		}
		p.mu.Lock()
		p.lines = append(p.lines, l)
		close(p.seen)
		p.seen = make(chan struct{})
		p.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

// waitLog waits for the first log line (from index from on) with message msg.
func (p *proc) waitLog(msg string, timeout time.Duration) (logLine, bool) {
	deadline := time.After(timeout)
	for i := 0; ; {
		p.mu.Lock()
		for ; i < len(p.lines); i++ {
			if p.lines[i].msg() == msg {
				l := p.lines[i]
				p.mu.Unlock()
				return l, true
			}
		}
		seen := p.seen
		p.mu.Unlock()
		select {
		case <-seen:
		case <-p.exited:
			// the reader has finished before exited closes: one last pass
			p.mu.Lock()
			for ; i < len(p.lines); i++ {
				if p.lines[i].msg() == msg {
					l := p.lines[i]
					p.mu.Unlock()
					return l, true
				}
			}
			p.mu.Unlock()
			return logLine{}, false
		case <-deadline:
			return logLine{}, false
		}
	}
}

// logs returns the log lines with message msg read so far.
func (p *proc) logs(msg string) []logLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []logLine
	for _, l := range p.lines {
		if l.msg() == msg {
			out = append(out, l)
		}
	}
	return out
}

func (p *proc) waitStarted(timeout time.Duration) {
	p.t.Helper()
	l, ok := p.waitLog("server.started", timeout)
	if !ok {
		p.dumpLogs(40)
		p.t.Fatalf("tusimg did not log server.started within %s (exit: %v)", timeout, p.exitErr)
	}
	p.ready = l.at
	addr, _ := l.m["addr"].(string)
	if addr == "" {
		p.t.Fatalf("server.started without addr: %s", l.raw)
	}
	p.addr = addr
	p.URL = "http://" + addr
	p.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 0,
		DisableCompression: true}}
}

func (p *proc) dumpLogs(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	from := max(0, len(p.lines)-n)
	p.t.Logf("last %d of %d server log lines (pid %d):", len(p.lines)-from, len(p.lines), p.cmd.Process.Pid)
	for _, l := range p.lines[from:] {
		p.t.Log("  " + l.raw)
	}
}

// crash SIGKILLs the server and waits for it to be gone.
func (p *proc) crash() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Fatal("tusimg did not die within 10s of SIGKILL")
	}
	p.closeIdle()
}

// kill is crash without test assertions (cleanup).
func (p *proc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
	p.closeIdle()
}

// stop sends SIGTERM and waits up to timeout for the process to exit,
// returning how long it took.
func (p *proc) stop(timeout time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("tusimg did not exit within %s of SIGTERM", timeout)
	}
	p.closeIdle()
	return time.Since(start)
}

func (p *proc) closeIdle() {
	if p.client != nil {
		p.client.CloseIdleConnections()
	}
}

// get fetches path and returns status and body.
func (p *proc) get(path string) (int, []byte, http.Header) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, b, resp.Header
}

// mustServe asserts that GET /i/{sha} answers 200 with exactly want.
func (p *proc) mustServe(sha string, want []byte) {
	p.t.Helper()
	code, body, _ := p.get("/i/" + sha)
	if code != http.StatusOK {
		p.t.Fatalf("GET /i/%s: %d %s", sha, code, trunc(body))
	}
	if !bytes.Equal(body, want) {
		p.t.Fatalf("GET /i/%s: %d bytes that differ from the %d source bytes", sha, len(body), len(want))
	}
}

func trunc(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
