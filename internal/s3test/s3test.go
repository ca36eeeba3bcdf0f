// Package s3test runs a real S3-compatible server for tests: versitygw with
// its posix backend on a temporary directory, listening on a random
// 127.0.0.1 port, with one bucket created. Tests get the endpoint, the
// credentials and a ready path-style client, and can stop and restart the
// server to simulate an outage.
//
// It does not import the packages under test (nor internal/testserver,
// which imports the whole server), so any package's in-package tests can use
// it without an import cycle.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tusimg/tusimg/internal/testenv"
)

// Install is the command that installs the pinned versitygw.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// EnvBinary names an explicit versitygw binary; it wins over PATH and
// $(go env GOPATH)/bin.
const EnvBinary = "TUSIMG_VERSITYGW"

const startTimeout = 20 * time.Second

// Server is a running versitygw. Its methods are safe for concurrent use.
type Server struct {
	Endpoint  string // http://127.0.0.1:port
	Region    string // us-east-1
	AccessKey string
	SecretKey string
	Bucket    string     // created by Start
	Client    *s3.Client // path-style, static credentials, for Endpoint

	t    testing.TB
	bin  string
	dir  string // posix backend root; buckets are its subdirectories
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  *testenv.SyncBuffer
}

// Start runs versitygw for the duration of the test, with a bucket named
// "tusimg-test". When the binary is missing the test is skipped locally and
// fails in CI (CI=true). Set TUSIMG_S3TEST_LOG=1 to see the server's output.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	testenv.Need(t, bin != "", "versitygw", Install)
	dir := t.TempDir()
	s := &Server{
		t: t, bin: bin, dir: filepath.Join(dir, "root"), Region: "us-east-1",
		AccessKey: "tusimg-test-access", SecretKey: "tusimg-test-secret-key", Bucket: "tusimg-test",
		out: &testenv.SyncBuffer{Max: 1 << 20},
	}
	if err := os.Mkdir(s.dir, 0o750); err != nil {
		t.Fatal(err)
	}
	base := []string{"--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region, "--quiet"}
	posix := []string{"posix"}
	if !xattrSupported(s.dir) {
		meta := filepath.Join(dir, "meta")
		if err := os.Mkdir(meta, 0o750); err != nil {
			t.Fatal(err)
		}
		posix = append(posix, "--sidecar", meta)
	}
	posix = append(posix, s.dir)
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() || os.Getenv("TUSIMG_S3TEST_LOG") != "" {
			t.Logf("versitygw output:\n%s", s.out.String())
		}
	})
	var err error
	for range 3 { // the free port may be taken before versitygw binds it
		port := freePort(t)
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
		s.args = slices.Concat(base, []string{"--port", "127.0.0.1:" + strconv.Itoa(port)}, posix)
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	s.Client = s.NewClient()
	s.CreateBucket(t, s.Bucket)
	return s
}

// NewClient returns another client for the server: path-style, static
// credentials, at most two attempts per request (tests want failures fast),
// then changed by optFns (e.g. to set HTTPClient).
func (s *Server) NewClient(optFns ...func(*s3.Options)) *s3.Client {
	return s3.New(s3.Options{
		Region:           s.Region,
		BaseEndpoint:     aws.String(s.Endpoint),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RetryMaxAttempts: 2,
	}, optFns...)
}

// CreateBucket creates another bucket on the server.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("s3test: create bucket %s: %v", name, err)
	}
}

// Dir returns the posix backend's root: bucket b's object k is the file
// Dir()/b/k. Tests may look at (not write) it.
func (s *Server) Dir() string { return s.dir }

// Stop kills the server and waits for it to exit; stored objects survive
// for Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill() // SIGKILL also ends a paused process
	<-s.done
	s.cmd = nil
}

// Pause freezes the running server (SIGSTOP): connections are accepted by
// the kernel but never answered, like a hung S3. Resume undoes it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatalf("s3test: %s: server is not running", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("s3test: %s: %v", sig, err)
	}
}

// Restart starts a stopped server again on the same address and directory
// (it stops a running one first) and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("s3test: restart: %v", err)
	}
}

// start runs the binary with s.args and waits until it answers on its port.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin, s.args...)
	// A clean environment: versitygw reads many VGW_*, ROOT_* and generic
	// variables (LOGFILE, WEBHOOK) that must not leak in from the caller.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Dir(s.dir)}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	addr := strings.TrimPrefix(s.Endpoint, "http://")
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			return fmt.Errorf("versitygw exited during startup: %s", cmd.ProcessState)
		default:
		}
		if answers(addr) {
			s.cmd, s.done = cmd, done
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("versitygw did not answer on %s within %s", addr, startTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers reports whether an HTTP server answers a request on addr.
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 12)
	n, _ := c.Read(buf)
	return bytes.HasPrefix(buf[:n], []byte("HTTP/1."))
}

// Binary returns the versitygw to run: $TUSIMG_VERSITYGW, else versitygw on
// PATH, else $(go env GOPATH)/bin/versitygw; "" when none exists.
func Binary() string {
	if p := os.Getenv(EnvBinary); p != "" {
		if isExecutable(p) {
			return p
		}
		return ""
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
		if p := filepath.Join(dir, "bin", "versitygw"); isExecutable(p) {
			return p
		}
	}
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// xattrSupported reports whether dir's file system stores user extended
// attributes, which versitygw's posix backend keeps metadata in by default.
func xattrSupported(dir string) bool {
	const name = "user.tusimg.probe"
	if syscall.Setxattr(dir, name, []byte("1"), 0) != nil {
		return false
	}
	_ = syscall.Removexattr(dir, name)
	return true
}
