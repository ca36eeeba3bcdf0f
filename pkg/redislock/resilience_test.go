package redislock_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/tusimg/tusimg/pkg/redislock"
)

// After Redis restarts, each Locker resubscribes on its own: readiness comes
// back and release requests reach holders again.
func TestRedisRestart(t *testing.T) {
	srv := startRedis(t)
	opts := redislock.Options{Prefix: prefix, RetryInterval: 100 * time.Millisecond}
	a := newInstance(t, srv, opts)
	b := newInstance(t, srv, opts)
	srv.Restart(t)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, in := range []*instance{a, b} {
		if err := waitPing(ctx, in.Locker); err != nil {
			t.Fatalf("Ping after restart: %v", err)
		}
	}
	asked := newCounter()
	held := mustLock(t, a, "r1", asked.Func)
	wlk, done := lockAsync(b, "r1", 10*time.Second, func() {})
	asked.wait(t, 5*time.Second, "holder after restart")
	if err := held.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiter Lock: %v", err)
	}
	if err := wlk.Unlock(); err != nil {
		t.Fatalf("waiter Unlock: %v", err)
	}
}

// Every goroutine the Locker starts ends on Unlock, on a Lock's context end,
// or on Close.
func TestGoroutinesEnd(t *testing.T) {
	srv := startRedis(t)
	other := newInstance(t, srv, redislock.Options{Prefix: prefix})
	blocker := mustLock(t, other, "g2", func() {}) // never lets go
	defer blocker.Unlock()
	baseline := runtime.NumGoroutine()

	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	l, err := redislock.New(c, redislock.Options{Prefix: prefix, TTL: 300 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for range 3 {
		lk := mustLock(t, l, "g1", func() {})
		time.Sleep(150 * time.Millisecond) // let the keeper renew
		if err := lk.Unlock(); err != nil {
			t.Fatalf("Unlock: %v", err)
		}
		unlock, ok := l.TryLock("g1")
		if !ok {
			t.Fatal("TryLock on a free lock failed")
		}
		unlock()
		_, done := lockAsync(l, "g2", 200*time.Millisecond, func() {})
		if err := <-done; !errors.Is(err, handler.ErrFileLocked) {
			t.Fatalf("Lock on a kept lock: %v", err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("client Close: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before; stacks:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRedisDown(t *testing.T) {
	srv := startRedis(t)
	a := newInstance(t, srv, redislock.Options{Prefix: prefix, TTL: time.Second})
	pingCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := waitPing(pingCtx, a.Locker); err != nil {
		t.Fatalf("Ping with Redis up: %v", err)
	}
	lost := newCounter()
	held := mustLock(t, a, "u8", lost.Func)
	srv.Stop()

	start := time.Now()
	_, done := lockAsync(a, "u9", 20*time.Second, func() {})
	select {
	case err := <-done:
		if err == nil || errors.Is(err, handler.ErrFileLocked) {
			t.Fatalf("Lock with Redis down: %v, want a Redis error", err)
		}
		t.Logf("Lock with Redis down after %v: %v", time.Since(start), err)
	case <-time.After(10 * time.Second):
		t.Fatal("Lock with Redis down hangs")
	}
	if _, ok := a.TryLock("u10"); ok {
		t.Fatal("TryLock with Redis down succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Ping(ctx); err == nil {
		t.Fatal("Ping with Redis down succeeded")
	}
	lost.wait(t, 5*time.Second, "holder that cannot renew")
	if err := held.Unlock(); err == nil {
		t.Error("Unlock with Redis down succeeded")
	}
}

// waitPing polls Ping until it succeeds (the subscription is confirmed
// shortly after New) or ctx ends.
func waitPing(ctx context.Context, l *redislock.Locker) error {
	for {
		err := l.Ping(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
