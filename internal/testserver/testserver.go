// Package testserver starts a real tusimg server in-process for tests: bound
// to 127.0.0.1 on a random port, data in a temporary directory. It also says
// how a test treats a missing external component (skip locally, fail in CI).
package testserver

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testenv"
	"github.com/tusimg/tusimg/pkg/config"
	"github.com/tusimg/tusimg/pkg/server"
)

// TS is a running server.
type TS struct {
	URL    string // http://127.0.0.1:port
	Data   string // data directory
	Server *server.Server
	stop   context.CancelFunc
	done   chan error
}

// Start runs a server with default config changed by mutate (may be nil) and
// stops it when the test ends.
func Start(t testing.TB, mutate func(*config.Config)) *TS {
	t.Helper()
	return StartLogged(t, mutate, nil)
}

// StartLogged is Start with the server's log (text, debug level) written to
// log; nil discards it, unless TUSIMG_TEST_LOG is set (then stderr).
func StartLogged(t testing.TB, mutate func(*config.Config), log io.Writer) *TS {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.ShutdownGrace = 5 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	w := log
	switch {
	case w != nil:
	case os.Getenv("TUSIMG_TEST_LOG") != "":
		w = os.Stderr
	default:
		w = io.Discard
	}
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &TS{Data: cfg.Data, Server: srv, stop: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() { ts.done <- srv.Run(ctx, func(addr, _ string) { ready <- addr }) }()
	select {
	case addr := <-ready:
		ts.URL = "http://" + addr
	case err := <-ts.done:
		cancel()
		t.Fatalf("server.Run: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start within 30s")
	}
	t.Cleanup(func() { ts.Stop(t) })
	return ts
}

// Stop shuts the server down and waits for it (idempotent).
func (ts *TS) Stop(t testing.TB) {
	if ts.stop == nil {
		return
	}
	ts.stop()
	ts.stop = nil
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("server.Run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("server did not stop within 30s")
	}
}

// InCI reports whether tests run in CI (see testenv.InCI).
func InCI() bool { return testenv.InCI() }

// Need skips locally and fails in CI when a component is missing (see
// testenv.Need).
func Need(t testing.TB, ok bool, what, install string) {
	t.Helper()
	testenv.Need(t, ok, what, install)
}
