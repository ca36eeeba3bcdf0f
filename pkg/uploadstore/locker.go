package uploadstore

import (
	"context"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
)

// Locker is an in-process upload locker (one instance). Like tusd's
// memorylocker, a request that wants a held lock asks the holder to let go
// (tusd then stops the holder's PATCH, which saves what it received), so a
// client resuming after a dropped connection is not blocked by its own stale
// request. Unlike memorylocker, a lock that still cannot be had before the
// context ends answers 423 Locked (tus spec), not 500, and TryLock lets
// background work skip busy uploads without interrupting them.
type Locker struct {
	mu    sync.Mutex
	locks map[string]*lockEntry
}

type lockEntry struct {
	released       chan struct{}
	requestRelease func()
}

// NewLocker returns an empty Locker.
func NewLocker() *Locker { return &Locker{locks: map[string]*lockEntry{}} }

// UseIn registers the locker with a tusd composer.
func (l *Locker) UseIn(c *handler.StoreComposer) { c.UseLocker(l) }

// NewLock implements handler.Locker.
func (l *Locker) NewLock(id string) (handler.Lock, error) { return &lock{l: l, id: id}, nil }

// TryLock takes id's lock only if it is free, without disturbing a holder.
// The returned unlock must be called; ok is false when the lock is busy.
func (l *Locker) TryLock(id string) (unlock func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, busy := l.locks[id]; busy {
		return nil, false
	}
	e := &lockEntry{released: make(chan struct{}), requestRelease: func() {}}
	l.locks[id] = e
	return func() { l.release(id, e) }, true
}

func (l *Locker) release(id string, e *lockEntry) {
	l.mu.Lock()
	if l.locks[id] == e {
		delete(l.locks, id)
	}
	l.mu.Unlock()
	close(e.released)
}

type lock struct {
	l  *Locker
	id string
	e  *lockEntry
}

// Lock implements handler.Lock.
func (k *lock) Lock(ctx context.Context, requestRelease func()) error {
	for {
		k.l.mu.Lock()
		held, busy := k.l.locks[k.id]
		if !busy {
			k.e = &lockEntry{released: make(chan struct{}), requestRelease: requestRelease}
			k.l.locks[k.id] = k.e
			k.l.mu.Unlock()
			return nil
		}
		k.l.mu.Unlock()
		if err := waitRelease(ctx, held); err != nil {
			return err
		}
	}
}

// Unlock implements handler.Lock.
func (k *lock) Unlock() error {
	if k.e != nil {
		k.l.release(k.id, k.e)
		k.e = nil
	}
	return nil
}

// waitRelease asks the holder to let go, again every 250 ms (a Polite
// holder ignores the request while it is receiving bytes), until it does or
// ctx ends.
func waitRelease(ctx context.Context, held *lockEntry) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		held.requestRelease()
		select {
		case <-ctx.Done():
			return handler.ErrFileLocked
		case <-held.released:
			return nil
		case <-t.C:
		}
	}
}
