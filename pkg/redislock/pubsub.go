package redislock

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// healthInterval is how long the pub/sub connection may stay silent
	// before it is pinged; a second silent interval ends the connection.
	healthInterval = 3 * time.Second
	// maxBackoff caps the wait between pub/sub reconnection attempts.
	maxBackoff = 5 * time.Second
)

// listen keeps the Locker's pub/sub connection subscribed, reconnecting with
// backoff, until Close.
func (l *Locker) listen(ctx context.Context) {
	defer close(l.done)
	first := max(l.retry, 50*time.Millisecond)
	backoff := first
	for {
		subscribed := l.session(ctx)
		l.setReady(false)
		if ctx.Err() != nil {
			return
		}
		if subscribed {
			backoff = first
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// session runs one pub/sub connection until it fails or ctx ends, routing
// its messages. It reports whether the subscription was confirmed.
func (l *Locker) session(ctx context.Context) bool {
	release, released := l.patterns()
	ps := l.client.PSubscribe(ctx, release, released)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = ps.Close()
		return false
	}
	l.ps = ps
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.ps = nil
		l.mu.Unlock()
		_ = ps.Close()
	}()

	confirmed, pinged := 0, false
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthInterval)
		if err != nil {
			if ctx.Err() != nil {
				return confirmed == 2
			}
			if isTimeout(err) && !pinged {
				if err = ps.Ping(ctx); err == nil {
					pinged = true
					continue
				}
			}
			l.logLost(confirmed == 2, err)
			return confirmed == 2
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "psubscribe" {
				if confirmed++; confirmed == 2 {
					l.setReady(true)
					l.log.Debug("redislock.subscribed", "patterns", []string{release, released})
				}
			}
		case *redis.Message:
			l.dispatch(m.Channel)
		}
	}
}

func (l *Locker) logLost(wasSubscribed bool, err error) {
	if wasSubscribed {
		l.log.Warn("redislock.subscription_lost", "error", err)
	} else {
		l.log.Debug("redislock.subscribe_failed", "error", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// dispatch routes a message: a release request to the holders of the id
// here, a release notice to the waiters for it here. It never blocks.
func (l *Locker) dispatch(channel string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id, ok := strings.CutPrefix(channel, l.prefix+"release:"); ok {
		for h := range l.holders[id] {
			select {
			case h.release <- struct{}{}:
			default:
			}
		}
		return
	}
	if id, ok := strings.CutPrefix(channel, l.prefix+"released:"); ok {
		for w := range l.waiters[id] {
			select {
			case w <- struct{}{}:
			default:
			}
		}
	}
}

// setReady records whether the subscription is confirmed: l.ready is closed
// while it is, and a fresh open channel while it is not.
func (l *Locker) setReady(ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.ready:
		if !ok {
			l.ready = make(chan struct{})
		}
	default:
		if ok {
			close(l.ready)
		}
	}
}

func (l *Locker) readyChan() chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ready
}

// waitReady waits until the subscription is confirmed. An open ready channel
// is never replaced, only closed, so waiting on the current one suffices.
func (l *Locker) waitReady(ctx context.Context) error {
	select {
	case <-l.readyChan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return errClosed
	}
}

func (l *Locker) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

func (l *Locker) register(h *held) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holders[h.id] == nil {
		l.holders[h.id] = map[*held]struct{}{}
	}
	l.holders[h.id][h] = struct{}{}
}

func (l *Locker) unregister(h *held) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.holders[h.id], h)
	if len(l.holders[h.id]) == 0 {
		delete(l.holders, h.id)
	}
}

func (l *Locker) addWaiter(id string) chan struct{} {
	w := make(chan struct{}, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiters[id] == nil {
		l.waiters[id] = map[chan struct{}]struct{}{}
	}
	l.waiters[id][w] = struct{}{}
	return w
}

func (l *Locker) removeWaiter(id string, w chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.waiters[id], w)
	if len(l.waiters[id]) == 0 {
		delete(l.waiters, id)
	}
}
