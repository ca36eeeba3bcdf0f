package redislock_test

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tusimg/tusimg/internal/redistest"
	"github.com/tusimg/tusimg/internal/testenv"
	"github.com/tusimg/tusimg/pkg/redislock"
)

// redisServer is the shared test Redis.
type redisServer = redistest.Server

func startRedis(t *testing.T) *redisServer { return redistest.Start(t) }

// instance is one simulated tusimg server: its own client and Locker.
type instance struct {
	*redislock.Locker
	Client *redis.Client
	Logs   *testenv.SyncBuffer
}

// newInstance returns a Locker on its own client of s, closed at test end.
func newInstance(t *testing.T, s *redisServer, opts redislock.Options) *instance {
	t.Helper()
	c := s.Client(t)
	logs := &testenv.SyncBuffer{}
	var w io.Writer = logs
	if os.Getenv("TUSIMG_TEST_LOG") != "" {
		w = io.MultiWriter(logs, os.Stderr)
	}
	l, err := redislock.New(c, opts, slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("redislock.New: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return &instance{Locker: l, Client: c, Logs: logs}
}
