package uploadstore

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
)

// Progress records when a request last received body bytes. The upload
// reads it to decide whether to let go of its lock (see Polite).
type Progress struct{ last atomic.Int64 }

// Touch records progress now.
func (p *Progress) Touch() { p.last.Store(time.Now().UnixNano()) }

// ActiveWithin reports whether bytes arrived during the last d.
func (p *Progress) ActiveWithin(d time.Duration) bool {
	last := p.last.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < d
}

type progressKey struct{}

// WithProgress returns ctx carrying a fresh Progress that WriteChunk keeps
// up to date.
func WithProgress(ctx context.Context) (context.Context, *Progress) {
	p := &Progress{}
	return context.WithValue(ctx, progressKey{}, p), p
}

func progressFrom(ctx context.Context) *Progress {
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
		return &st.progress
	}
	p, _ := ctx.Value(progressKey{}).(*Progress)
	return p
}

// TryLocker is a tusd locker with a non-disturbing try (for the janitor).
type TryLocker interface {
	handler.Locker
	TryLock(id string) (unlock func(), ok bool)
}

// Polite wraps a locker so that a request that is receiving body bytes
// ignores requests to release its lock until it has been idle for idle.
// tusd's own rule (any new request for the upload stops the current one)
// lets a status poll or a second client cut a healthy upload; with Polite
// the newcomer waits (and gets 423 after the lock timeout), while a stale
// request whose client is gone still gives way within idle, so a client
// resuming after a dropped connection is not blocked. Waiters must repeat
// their release request, as both of our lockers do.
func Polite(inner TryLocker, idle time.Duration) TryLocker {
	return &polite{TryLocker: inner, idle: idle}
}

type polite struct {
	TryLocker
	idle time.Duration
}

func (p *polite) NewLock(id string) (handler.Lock, error) {
	l, err := p.TryLocker.NewLock(id)
	if err != nil {
		return nil, err
	}
	return &politeLock{inner: l, idle: p.idle}, nil
}

type politeLock struct {
	inner handler.Lock
	idle  time.Duration
}

func (l *politeLock) Unlock() error { return l.inner.Unlock() }

func (l *politeLock) Lock(ctx context.Context, requestRelease func()) error {
	prog := progressFrom(ctx)
	return l.inner.Lock(ctx, func() {
		if prog != nil && prog.ActiveWithin(l.idle) {
			return
		}
		requestRelease()
	})
}

// Close closes the inner locker if it can be closed.
func (p *polite) Close() error {
	if c, ok := p.TryLocker.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// Ping checks the inner locker if it can be checked.
func (p *polite) Ping(ctx context.Context) error {
	if c, ok := p.TryLocker.(interface{ Ping(context.Context) error }); ok {
		return c.Ping(ctx)
	}
	return nil
}
