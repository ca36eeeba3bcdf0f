// Package redistest starts a real redis-server on a random loopback port
// for tests (no persistence), stopped when the test ends. A missing
// redis-server skips the test locally and fails it in CI.
package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tusimg/tusimg/internal/testenv"
)

// Server is a real redis-server on a random loopback port, with no
// persistence, stopped when the test ends.
type Server struct {
	Addr      string
	bin, dir  string
	port      int
	cmd       *exec.Cmd
	exited    chan struct{}
	out       bytes.Buffer // read only after exited is closed
	isStopped bool
}

// startRedis starts redis-server, or skips (fails in CI) when it is missing.
func Start(t *testing.T) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	testenv.Need(t, err == nil, "redis-server", "apt-get install -y redis-server")
	s := &Server{bin: bin, dir: t.TempDir()}
	// The free port may be taken between probing and binding: retry.
	for attempt := 0; ; attempt++ {
		s.port = freePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		err := s.start(t)
		if err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		if attempt == 2 {
			t.Fatalf("redis-server did not start: %v", err)
		}
	}
}

// start runs the server on s.port and waits until it answers PING.
func (s *Server) start(t *testing.T) error {
	s.exited, s.isStopped = make(chan struct{}), false
	s.out.Reset()
	s.cmd = exec.Command(s.bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", s.dir)
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	exited := s.exited
	go func() { _ = s.cmd.Wait(); close(exited) }()

	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%w; output:\n%s", err, s.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("%w; output:\n%s", err, s.out.String())
		}
	}
}

// Stop kills the server and waits for it to exit (idempotent).
func (s *Server) Stop() {
	if s.isStopped {
		return
	}
	s.isStopped = true
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Restart stops the server and starts an empty one on the same port.
func (s *Server) Restart(t *testing.T) {
	t.Helper()
	s.Stop()
	if err := s.start(t); err != nil {
		t.Fatalf("restart redis-server: %v", err)
	}
}

// Client returns a new client of the server, closed when the test ends.
func (s *Server) Client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
