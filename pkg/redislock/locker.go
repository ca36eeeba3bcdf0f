// Package redislock is a tusd upload locker shared by many tusimg instances
// through Redis, so that any instance can take any request of any upload.
//
// A lock is the Redis key <prefix>lock:<id>, set with SET NX PX ttl to a
// random token. Its holder extends it every ttl/3 while the token still
// matches (compare-and-pexpire) and deletes it on Unlock (compare-and-delete),
// so the lock of an instance that dies frees itself after the TTL. A caller
// that finds the lock held publishes a release request on
// <prefix>release:<id>; the holder's instance passes it to the holder's
// requestRelease callback (tusd then ends the holder's PATCH, which unlocks).
// Unlock publishes <prefix>released:<id> so that waiters retry at once instead
// of at their next poll.
//
// Each Locker keeps one Redis pub/sub connection, subscribed to the two
// patterns <prefix>release:* and <prefix>released:*, and routes messages to
// its local holders and waiters. No lock is granted before this subscription
// is confirmed by Redis. The trade-off against one SUBSCRIBE per held lock:
// every instance receives every release request (rare: only on contention)
// and never subscribes or unsubscribes per lock, so there is no per-lock
// subscription state to keep right across reconnects. Messages published
// while the connection is down are lost; waiters publish again at every retry.
//
// The package owns locking only; it does not create or configure the Redis
// client, and knows nothing about uploads beyond their ids.
package redislock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tus/tusd/v2/pkg/handler"
)

// Default option values.
const (
	DefaultTTL           = 10 * time.Second
	DefaultRetryInterval = 250 * time.Millisecond
	DefaultPrefix        = "tusimg:"
)

// Options tune a Locker. The zero value means all defaults.
type Options struct {
	// TTL is how long a lock outlives its holder's last extension: the time
	// after which the lock of a crashed instance frees itself. Holders extend
	// their locks every TTL/3. Default DefaultTTL (10s); at least 30ms.
	TTL time.Duration
	// RetryInterval is how often a waiter asks the holder again to release
	// and tries to take the lock (it also retries as soon as the holder's
	// Unlock is announced). Default DefaultRetryInterval (250ms).
	RetryInterval time.Duration
	// Prefix starts every Redis key and channel name. Default DefaultPrefix
	// ("tusimg:"). Instances sharing locks must use the same prefix.
	Prefix string
}

// Locker implements tusd's handler.Locker on Redis. It is safe for
// concurrent use. Close stops its pub/sub connection.
type Locker struct {
	client *redis.Client
	log    *slog.Logger
	ttl    time.Duration
	retry  time.Duration
	prefix string

	mu      sync.Mutex
	holders map[string]map[*held]struct{}         // id → locks held here
	waiters map[string]map[chan struct{}]struct{} // id → Lock calls waiting here
	ready   chan struct{}                         // closed while subscribed
	ps      *redis.PubSub                         // current pub/sub connection
	closed  bool

	stop context.CancelFunc
	done chan struct{} // closed when the pub/sub loop has ended
}

var _ handler.Locker = (*Locker)(nil)

// New returns a Locker using client, which the caller keeps owning (and
// closes after Close). It starts the Locker's pub/sub loop, which connects
// and reconnects in the background: New does not fail when Redis is down.
func New(client *redis.Client, opts Options, log *slog.Logger) (*Locker, error) {
	if client == nil {
		return nil, errors.New("redislock: nil redis client")
	}
	if log == nil {
		return nil, errors.New("redislock: nil logger")
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if opts.RetryInterval == 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	var errs []error
	if opts.TTL < 30*time.Millisecond {
		errs = append(errs, fmt.Errorf("redislock: TTL %v is below 30ms", opts.TTL))
	}
	if opts.RetryInterval < 0 {
		errs = append(errs, fmt.Errorf("redislock: negative RetryInterval %v", opts.RetryInterval))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Locker{
		client:  client,
		log:     log,
		ttl:     opts.TTL,
		retry:   opts.RetryInterval,
		prefix:  opts.Prefix,
		holders: map[string]map[*held]struct{}{},
		waiters: map[string]map[chan struct{}]struct{}{},
		ready:   make(chan struct{}),
		stop:    cancel,
		done:    make(chan struct{}),
	}
	go l.listen(ctx)
	return l, nil
}

// UseIn registers the locker with a tusd composer.
func (l *Locker) UseIn(c *handler.StoreComposer) { c.UseLocker(l) }

// NewLock implements handler.Locker. It does not talk to Redis. A Lock value
// is used by one goroutine at a time, as tusd does.
func (l *Locker) NewLock(id string) (handler.Lock, error) {
	return &lock{l: l, id: id}, nil
}

// TryLock takes id's lock only if it is free, without asking a holder to
// release it; release requests from others are ignored while it is held
// (they wait). The returned unlock must be called; ok is false when the lock
// is busy or Redis cannot be reached (logged). The lock is extended until
// unlock like any other.
func (l *Locker) TryLock(id string) (unlock func(), ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl)
	defer cancel()
	h, err := l.acquire(ctx, id, nil)
	if err != nil {
		l.log.Warn("redislock.trylock_failed", "upload_id", id, "error", err)
		return nil, false
	}
	if h == nil {
		return nil, false
	}
	go l.keep(h)
	var once sync.Once
	return func() {
		once.Do(func() {
			if err := l.release(h); err != nil {
				l.log.Warn("redislock.unlock_failed", "upload_id", id, "error", err)
			}
		})
	}, true
}

// Ping reports whether Redis answers and the Locker's release subscription
// is confirmed, i.e. whether locks can be granted now. For readiness checks.
func (l *Locker) Ping(ctx context.Context) error {
	if err := l.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redislock: ping: %w", err)
	}
	select {
	case <-l.readyChan():
		return nil
	default:
		return errors.New("redislock: release subscription not confirmed")
	}
}

// Close stops the pub/sub loop and waits for it. Locks still held stay held
// (and extended) until unlocked; Lock calls after Close fail. Close does not
// close the Redis client. It is idempotent.
func (l *Locker) Close() error {
	l.mu.Lock()
	l.closed = true
	ps := l.ps
	l.mu.Unlock()
	l.stop()
	if ps != nil {
		_ = ps.Close() // unblocks a pending Receive
	}
	<-l.done
	return nil
}

func (l *Locker) key(id string) string       { return l.prefix + "lock:" + id }
func (l *Locker) releaseCh(id string) string { return l.prefix + "release:" + id }
func (l *Locker) releasedCh(id string) string {
	return l.prefix + "released:" + id
}

// patterns returns the two subscription patterns, with glob characters of the
// prefix escaped.
func (l *Locker) patterns() (release, released string) {
	esc := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`).Replace(l.prefix)
	return esc + "release:*", esc + "released:*"
}
