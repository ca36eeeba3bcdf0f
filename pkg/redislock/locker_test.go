package redislock_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/tusimg/tusimg/pkg/redislock"
)

const prefix = "t:" // key of upload id is prefix + "lock:" + id

// counter is a requestRelease callback that counts its calls and signals each
// one on C without blocking.
type counter struct {
	n atomic.Int32
	C chan struct{}
}

func newCounter() *counter { return &counter{C: make(chan struct{}, 1)} }

func (c *counter) Func() {
	c.n.Add(1)
	select {
	case c.C <- struct{}{}:
	default:
	}
}

func (c *counter) wait(t *testing.T, within time.Duration, what string) {
	t.Helper()
	select {
	case <-c.C:
	case <-time.After(within):
		t.Fatalf("%s: requestRelease not called within %v", what, within)
	}
}

func mustLock(t *testing.T, l handler.Locker, id string, rr func()) handler.Lock {
	t.Helper()
	lk, err := l.NewLock(id)
	if err != nil {
		t.Fatalf("NewLock: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lk.Lock(ctx, rr); err != nil {
		t.Fatalf("Lock(%s): %v", id, err)
	}
	return lk
}

func lockAsync(l handler.Locker, id string, timeout time.Duration, rr func()) (handler.Lock, <-chan error) {
	lk, _ := l.NewLock(id) // never fails
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		done <- lk.Lock(ctx, rr)
	}()
	return lk, done
}

func TestLockUnlock(t *testing.T) {
	srv := startRedis(t)
	a := newInstance(t, srv, redislock.Options{Prefix: prefix, TTL: 2 * time.Second})
	ctx := context.Background()

	lk := mustLock(t, a, "u1", func() {})
	ttl, err := a.Client.PTTL(ctx, prefix+"lock:u1").Result()
	if err != nil || ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("PTTL of held lock = %v, %v; want in (0, 2s]", ttl, err)
	}
	if err := lk.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if n, err := a.Client.Exists(ctx, prefix+"lock:u1").Result(); err != nil || n != 0 {
		t.Fatalf("key after Unlock: exists=%d err=%v", n, err)
	}
	if err := lk.Unlock(); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
	lk = mustLock(t, a, "u1", func() {}) // free again
	if err := lk.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
}

// A waiter asks the holder to release, on another instance or on the same
// one, and gets the lock as soon as the holder unlocks: long before its next
// poll, thanks to the released notification.
func TestReleaseRequest(t *testing.T) {
	srv := startRedis(t)
	opts := redislock.Options{Prefix: prefix, RetryInterval: 3 * time.Second}
	a := newInstance(t, srv, opts)
	b := newInstance(t, srv, opts)
	for _, tc := range []struct {
		name   string
		waiter *instance
	}{{"other instance", b}, {"same instance", a}} {
		t.Run(tc.name, func(t *testing.T) {
			asked := newCounter()
			held := mustLock(t, a, "u2", asked.Func)
			wlk, done := lockAsync(tc.waiter, "u2", 10*time.Second, func() {})
			asked.wait(t, 2*time.Second, "holder")
			select {
			case err := <-done:
				t.Fatalf("waiter returned %v while the lock was held", err)
			case <-time.After(100 * time.Millisecond):
			}
			if err := held.Unlock(); err != nil {
				t.Fatalf("holder Unlock: %v", err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("waiter Lock: %v", err)
				}
			case <-time.After(2 * time.Second): // RetryInterval is 3s
				t.Fatal("waiter did not get the lock within 2s of Unlock")
			}
			if err := wlk.Unlock(); err != nil {
				t.Fatalf("waiter Unlock: %v", err)
			}
		})
	}
}

func TestLockedWhenHolderKeepsLock(t *testing.T) {
	srv := startRedis(t)
	a := newInstance(t, srv, redislock.Options{Prefix: prefix})
	b := newInstance(t, srv, redislock.Options{Prefix: prefix, RetryInterval: 50 * time.Millisecond})
	asked := newCounter()
	held := mustLock(t, a, "u3", asked.Func) // ignores requests
	defer held.Unlock()

	start := time.Now()
	_, done := lockAsync(b, "u3", 600*time.Millisecond, func() {})
	err := <-done
	if !errors.Is(err, handler.ErrFileLocked) {
		t.Fatalf("Lock on a kept lock: %v, want ErrFileLocked", err)
	}
	if d := time.Since(start); d < 550*time.Millisecond || d > 3*time.Second {
		t.Fatalf("Lock gave up after %v, want about 600ms", d)
	}
	if n := asked.n.Load(); n < 2 {
		t.Fatalf("holder asked %d times, want repeated requests", n)
	}
	if _, ok := b.TryLock("u3"); ok {
		t.Fatal("TryLock succeeded while the lock is still held")
	}
}

func TestTryLock(t *testing.T) {
	srv := startRedis(t)
	a := newInstance(t, srv, redislock.Options{Prefix: prefix})
	b := newInstance(t, srv, redislock.Options{Prefix: prefix, RetryInterval: 50 * time.Millisecond})

	asked := newCounter()
	held := mustLock(t, a, "u4", asked.Func)
	if _, ok := b.TryLock("u4"); ok {
		t.Fatal("TryLock on a held lock succeeded")
	}
	time.Sleep(300 * time.Millisecond)
	if n := asked.n.Load(); n != 0 {
		t.Fatalf("TryLock asked the holder to release (%d calls)", n)
	}
	if err := held.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}

	unlock, ok := b.TryLock("u4")
	if !ok {
		t.Fatal("TryLock on a free lock failed")
	}
	// A TryLock holder ignores release requests: the waiter times out.
	_, done := lockAsync(a, "u4", 500*time.Millisecond, func() {})
	if err := <-done; !errors.Is(err, handler.ErrFileLocked) {
		t.Fatalf("Lock while TryLock holds: %v, want ErrFileLocked", err)
	}
	_, done = lockAsync(a, "u4", 5*time.Second, func() {})
	time.Sleep(100 * time.Millisecond)
	unlock()
	unlock() // idempotent
	if err := <-done; err != nil {
		t.Fatalf("Lock after TryLock's unlock: %v", err)
	}
}

// Holders extend their keys: a lock outlives many TTLs.
func TestRenewal(t *testing.T) {
	srv := startRedis(t)
	a := newInstance(t, srv, redislock.Options{Prefix: prefix, TTL: time.Second})
	b := newInstance(t, srv, redislock.Options{Prefix: prefix})
	asked := newCounter()
	held := mustLock(t, a, "u5", asked.Func)
	time.Sleep(2500 * time.Millisecond) // 2.5 TTLs
	if _, ok := b.TryLock("u5"); ok {
		t.Fatalf("lock expired although its holder is alive; logs:\n%s", a.Logs)
	}
	if n := asked.n.Load(); n != 0 {
		t.Fatalf("live holder was asked to release %d times", n)
	}
	if err := held.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
}

// An instance that dies without unlocking (its client is closed, so its
// renewals fail) loses the lock after the TTL; its holder is told, and
// another instance takes the lock.
func TestExpiryAfterCrash(t *testing.T) {
	srv := startRedis(t)
	opts := redislock.Options{Prefix: prefix, TTL: time.Second, RetryInterval: 50 * time.Millisecond}
	a := newInstance(t, srv, opts)
	b := newInstance(t, srv, opts)
	lost := newCounter()
	held := mustLock(t, a, "u6", lost.Func)
	crash := time.Now()
	_ = a.Client.Close()

	wlk, done := lockAsync(b, "u6", 8*time.Second, func() {})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Lock after holder crash: %v", err)
		}
	case <-time.After(9 * time.Second):
		t.Fatal("Lock did not return")
	}
	if d := time.Since(crash); d < 300*time.Millisecond || d > 4*time.Second {
		t.Fatalf("took over after %v, want about the 1s TTL", d)
	}
	lost.wait(t, 3*time.Second, "crashed holder")
	if !strings.Contains(a.Logs.String(), "redislock.lost") {
		t.Errorf("no redislock.lost log; logs:\n%s", a.Logs)
	}
	if err := held.Unlock(); err == nil {
		t.Error("Unlock through a closed client succeeded")
	}
	if err := wlk.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
}

// A holder whose key was taken over is told at its next renewal, and its
// Unlock does not delete the new owner's key.
func TestLostToAnotherOwner(t *testing.T) {
	srv := startRedis(t)
	a := newInstance(t, srv, redislock.Options{Prefix: prefix, TTL: 600 * time.Millisecond})
	lost := newCounter()
	held := mustLock(t, a, "u7", lost.Func)
	ctx := context.Background()
	if err := a.Client.Set(ctx, prefix+"lock:u7", "intruder", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	lost.wait(t, 3*time.Second, "overtaken holder")
	if err := held.Unlock(); err != nil {
		t.Fatalf("Unlock of a lost lock: %v", err)
	}
	if v, err := a.Client.Get(ctx, prefix+"lock:u7").Result(); err != nil || v != "intruder" {
		t.Fatalf("new owner's key after old holder's Unlock: %q, %v", v, err)
	}
}

func TestNewOptions(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	log := slog.New(slog.DiscardHandler)
	if _, err := redislock.New(nil, redislock.Options{}, log); err == nil {
		t.Error("New(nil client) succeeded")
	}
	if _, err := redislock.New(c, redislock.Options{TTL: time.Millisecond}, log); err == nil {
		t.Error("New with 1ms TTL succeeded")
	}
	l, err := redislock.New(c, redislock.Options{}, log) // Redis down: still fine
	if err != nil {
		t.Fatalf("New with defaults: %v", err)
	}
	var comp handler.StoreComposer
	l.UseIn(&comp)
	if comp.Locker != handler.Locker(l) {
		t.Error("UseIn did not register the locker")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
