package redislock_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tusimg/tusimg/pkg/redislock"
)

// Eight workers on two instances take the same lock 50 times each. A holder
// stays inside until asked to release (or 200ms), so hand-overs go through
// release requests. No two workers may ever be inside together.
func TestContention(t *testing.T) {
	srv := startRedis(t)
	opts := redislock.Options{Prefix: prefix, RetryInterval: 100 * time.Millisecond}
	insts := []*instance{newInstance(t, srv, opts), newInstance(t, srv, opts)}
	const workers, rounds = 8, 50

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var inside atomic.Bool
	var entered, violations, early atomic.Int32
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func(l *redislock.Locker) {
			defer wg.Done()
			for range rounds {
				if err := criticalSection(ctx, l, &inside, &entered, &violations, &early); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		}(insts[w%len(insts)].Locker)
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d critical sections in %v, %d ended early by a release request", entered.Load(), elapsed, early.Load())
	if v := violations.Load(); v != 0 {
		t.Fatalf("mutual exclusion violated %d times", v)
	}
	if n := entered.Load(); n != workers*rounds {
		t.Fatalf("%d critical sections, want %d", n, workers*rounds)
	}
	if e := early.Load(); e < workers*rounds/2 {
		t.Errorf("only %d of %d holders were asked to release", e, workers*rounds)
	}
	if elapsed > 60*time.Second {
		t.Errorf("took %v, want under 60s", elapsed)
	}
}

func criticalSection(ctx context.Context, l *redislock.Locker, inside *atomic.Bool, entered, violations, early *atomic.Int32) error {
	lk, err := l.NewLock("hot")
	if err != nil {
		return err
	}
	asked := make(chan struct{}, 1)
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = lk.Lock(lctx, func() {
		select {
		case asked <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return err
	}
	if !inside.CompareAndSwap(false, true) {
		violations.Add(1)
	}
	entered.Add(1)
	select {
	case <-asked:
		early.Add(1)
	case <-time.After(200 * time.Millisecond):
	}
	inside.Store(false)
	return lk.Unlock()
}
