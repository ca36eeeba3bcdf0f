package redislock

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tus/tusd/v2/pkg/handler"
)

var (
	// extendScript sets a new expiry only if the caller still holds the key.
	extendScript = redis.NewScript(`
if redis.call("get", KEYS[1]) == ARGV[1] then
	return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0`)
	// unlockScript deletes the key only if the caller still holds it, and
	// then tells waiters (channel ARGV[2]) that it is free.
	unlockScript = redis.NewScript(`
if redis.call("get", KEYS[1]) == ARGV[1] then
	redis.call("del", KEYS[1])
	redis.call("publish", ARGV[2], "")
	return 1
end
return 0`)

	errClosed = errors.New("redislock: locker closed")
)

// lock implements handler.Lock.
type lock struct {
	l  *Locker
	id string
	h  *held // nil when not held
}

// held is one lock held by this process. Its keeper goroutine extends the
// key and passes release requests to requestRelease until cancel is called.
type held struct {
	id, key, token string
	requestRelease func()        // nil for TryLock: release requests are ignored
	release        chan struct{} // buffered 1: a release request is pending
	validUntil     time.Time     // the key surely exists until then; keeper only

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the keeper has ended
}

// Lock implements handler.Lock: it takes the lock, or else asks the holder to
// release it (through Redis, at every retry) and waits. It returns
// handler.ErrFileLocked (423) when ctx ends first, and another error when
// Redis fails. requestRelease is called, from another goroutine and possibly
// more than once, when another party wants the lock or when the lock was lost
// (expired or taken over); it must not block.
func (k *lock) Lock(ctx context.Context, requestRelease func()) error {
	if k.h != nil {
		return fmt.Errorf("redislock: lock %s: already held by this Lock", k.id)
	}
	if requestRelease == nil {
		requestRelease = func() {}
	}
	l := k.l
	wake := l.addWaiter(k.id)
	defer l.removeWaiter(k.id, wake)
	timer := time.NewTimer(l.retry)
	defer timer.Stop()
	for {
		h, err := l.acquire(ctx, k.id, requestRelease)
		if err != nil {
			return l.lockErr(ctx, k.id, err)
		}
		if h != nil {
			k.h = h
			go l.keep(h)
			return nil
		}
		if err := l.client.Publish(ctx, l.releaseCh(k.id), "").Err(); err != nil {
			return l.lockErr(ctx, k.id, err)
		}
		timer.Reset(l.retry)
		select {
		case <-ctx.Done():
			return handler.ErrFileLocked
		case <-wake:
		case <-timer.C:
		}
	}
}

// Unlock implements handler.Lock. It stops extending the key and deletes it
// if it is still this lock's. Unlocking a lock that is not held is a no-op.
func (k *lock) Unlock() error {
	h := k.h
	if h == nil {
		return nil
	}
	k.h = nil
	return k.l.release(h)
}

func (l *Locker) lockErr(ctx context.Context, id string, err error) error {
	if ctx.Err() != nil {
		return handler.ErrFileLocked
	}
	return fmt.Errorf("redislock: lock %s: %w", id, err)
}

// acquire tries once to take id's lock. It returns nil, nil when the lock is
// held by someone else. With a requestRelease callback, the new holder is
// registered for release requests and acquire waits until the Locker's
// subscription is confirmed; if ctx ends first the lock is given back.
func (l *Locker) acquire(ctx context.Context, id string, requestRelease func()) (*held, error) {
	if l.isClosed() {
		return nil, errClosed
	}
	key, token := l.key(id), rand.Text()
	start := time.Now()
	ok, err := l.client.SetNX(ctx, key, token, l.ttl).Result()
	if err != nil {
		if ctx.Err() != nil || isTimeout(err) {
			l.cleanup(key, token, id) // the SET may have been applied
		}
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	hctx, cancel := context.WithCancel(context.Background())
	h := &held{
		id: id, key: key, token: token,
		requestRelease: requestRelease,
		release:        make(chan struct{}, 1),
		validUntil:     start.Add(l.ttl),
		ctx:            hctx, cancel: cancel,
		done: make(chan struct{}),
	}
	if requestRelease == nil {
		return h, nil
	}
	l.register(h)
	if err := l.waitReady(ctx); err != nil {
		l.unregister(h)
		cancel()
		l.cleanup(key, token, id)
		return nil, err
	}
	return h, nil
}

// cleanup deletes key if it holds token, bounded in time; errors are only
// logged (the key expires after the TTL anyway).
func (l *Locker) cleanup(key, token, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), min(l.ttl, 2*time.Second))
	defer cancel()
	if err := unlockScript.Run(ctx, l.client, []string{key}, token, l.releasedCh(id)).Err(); err != nil {
		l.log.Debug("redislock.cleanup_failed", "upload_id", id, "error", err)
	}
}

// release stops h's keeper and deletes its key if still held.
func (l *Locker) release(h *held) error {
	h.cancel()
	<-h.done
	l.unregister(h)
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl)
	defer cancel()
	n, err := unlockScript.Run(ctx, l.client, []string{h.key}, h.token, l.releasedCh(h.id)).Int()
	if err != nil {
		return fmt.Errorf("redislock: unlock %s: %w", h.id, err)
	}
	if n == 0 {
		l.log.Info("redislock.unlock_not_held", "upload_id", h.id)
	}
	return nil
}

// keep extends h's key every TTL/3 and calls h.requestRelease on a release
// request or when the lock is lost. It ends when h is released or lost.
func (l *Locker) keep(h *held) {
	defer close(h.done)
	every := l.ttl / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.release:
			l.log.Debug("redislock.release_requested", "upload_id", h.id)
			h.requestRelease()
		case <-t.C:
			if !l.renew(h, every) {
				if h.requestRelease != nil {
					h.requestRelease()
				}
				return
			}
		}
	}
}

// renew extends h's key once. It reports false when the lock is lost: the
// key is gone or has another owner, or it could not be extended and may
// expire before the next attempt.
func (l *Locker) renew(h *held, every time.Duration) bool {
	start := time.Now()
	ctx, cancel := context.WithTimeout(h.ctx, every)
	n, err := extendScript.Run(ctx, l.client, []string{h.key}, h.token, l.ttl.Milliseconds()).Int()
	cancel()
	switch {
	case h.ctx.Err() != nil: // being unlocked
		return true
	case err == nil && n == 1:
		h.validUntil = start.Add(l.ttl)
		return true
	case err == nil:
		l.log.Warn("redislock.lost", "upload_id", h.id, "reason", "expired or taken over")
		return false
	case time.Now().Add(every).Before(h.validUntil):
		l.log.Warn("redislock.renew_failed", "upload_id", h.id, "error", err)
		return true
	default:
		l.log.Error("redislock.lost", "upload_id", h.id, "reason", "cannot renew before expiry", "error", err)
		return false
	}
}
