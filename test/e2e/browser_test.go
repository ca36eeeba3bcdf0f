//go:build unix

package e2e

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
)

// browserTimeout bounds the whole node run (both test files, chromium
// start-up included); each step inside has its own shorter timeout.
const browserTimeout = 4 * time.Minute

// TestBrowser runs test/browser (node --test with playwright-core driving
// Debian's chromium headless) against a freshly built tusimg binary: upload
// through the Dashboard, server rejection messages, screenshots into
// test/artifacts/, and resume after the server is killed mid-upload.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	root := browserRepoRoot(t)
	chromium := browserChromium()
	testserver.Need(t, chromium != "", "chromium", "apt-get install chromium")
	node, err := exec.LookPath("node")
	testserver.Need(t, err == nil, "node", "apt-get install nodejs (Node 20+)")
	_, err = os.Stat(filepath.Join(root, "test", "browser", "node_modules", "playwright-core"))
	testserver.Need(t, err == nil, "playwright-core", "cd test/browser && npm ci")

	dir := t.TempDir()
	bin := browserBuildServer(t, root, dir)
	big := filepath.Join(dir, "noisy.png")
	noisyPNG(t, big, 1200, 1200, [2]uint64{1, 2}, png.BestSpeed)

	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1", "--test-timeout=120000", "--test-reporter=spec", "test/browser/")
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"TUSIMG_BIN="+bin,
		"TUSIMG_BIG_PNG="+big,
		"TUSIMG_TESTDATA="+filepath.Join(root, "testdata"),
		"TUSIMG_ARTIFACTS="+filepath.Join(root, "test", "artifacts"),
		"CHROMIUM="+chromium,
		"NO_COLOR=1",
	)
	cmd.WaitDelay = 10 * time.Second
	browserRun(t, cmd)
	if ctx.Err() != nil {
		t.Fatalf("browser tests did not finish within %s", browserTimeout)
	}
}

// browserRepoRoot is the module root (two levels above this file).
func browserRepoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate browser_test.go")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// browserChromium finds Debian's chromium: $CHROMIUM, or chromium on PATH.
func browserChromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserBuildServer builds cmd/tusimg into dir, so the tests can kill and
// restart a real server process.
func browserBuildServer(t *testing.T, root, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	testserver.Need(t, err == nil, "the go command on PATH", "add $(go env GOROOT)/bin to PATH")
	bin := filepath.Join(dir, "tusimg")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/tusimg")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tusimg: %v\n%s", err, out)
	}
	return bin
}

// browserRun runs cmd in its own process group, streaming its output to
// t.Log line by line, and fails the test if it exits non-zero. When cmd's
// context ends the whole group is killed (node, and the servers it started).
func browserRun(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	out := &browserLogWriter{t: t}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers, if any
	}
	out.flush()
	if err != nil {
		t.Fatalf("%s failed after %s: %v", strings.Join(cmd.Args[:2], " "), time.Since(start).Round(time.Second), err)
	}
	t.Logf("browser tests took %s", time.Since(start).Round(100*time.Millisecond))
}

// browserLogWriter passes complete lines to t.Log.
type browserLogWriter struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (w *browserLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.t.Log(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

func (w *browserLogWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.t.Log(string(w.buf))
		w.buf = nil
	}
}
