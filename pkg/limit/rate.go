package limit

import (
	"container/list"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/tusimg/tusimg/pkg/httperr"
)

// DefaultMaxClients is RateLimiter's default bound on tracked clients.
const DefaultMaxClients = 100_000

// maxWait caps the wait Allow reports (a tiny rate would overflow it).
const maxWait = 24 * time.Hour

// RateOptions are RateLimiter's optional settings; the zero value is usable.
type RateOptions struct {
	// Trusted lists proxy hops beyond the immediate peer whose
	// X-Forwarded-For / Forwarded entries are skipped (see Proxies.ClientIP).
	Trusted []netip.Prefix
	// Counts decides which requests take a token. Default: IsCreation (POST
	// without a method override). Requests it does not count are never
	// limited.
	Counts func(r *http.Request) bool
	// MaxClients bounds the number of clients (buckets) tracked at once.
	// Default DefaultMaxClients (about 17 MiB). Past it, the least recently seen
	// client is forgotten, which only ever lets that client create more.
	MaxClients int
	// Now is the clock. Default time.Now (tests inject a fake one).
	Now func() time.Time
	// Rejection configures the 429 answer (CORS, callback, request id).
	Rejection Rejection
}

// RateLimiter is a token bucket per client for upload creations: each client
// (Key of Proxies.ClientIP: an IPv4 address or an IPv6 /64) starts with
// burst tokens, a counted request takes one, and tokens come back at rate
// per second up to burst. A counted request finding no token is answered at
// once, without reading its body, with 429 and the JSON error rate_limited,
// and Retry-After: the whole seconds until a token is back (at least 1).
//
// Memory is bounded: a bucket that would be full again is the same as no
// bucket, so buckets idle for burst/rate seconds are dropped (checked on
// every request, oldest first, no goroutine), and at most MaxClients are
// kept (least recently seen dropped first). Each costs about 175 bytes.
//
// Safe for concurrent use; one RateLimiter may wrap several handlers, whose
// counted requests then draw on the same bucket per client.
type RateLimiter struct {
	rate, burst float64
	proxies     Proxies
	counts      func(*http.Request) bool
	max         int
	now         func() time.Time
	rj          Rejection

	mu      sync.Mutex
	lru     list.List // of *bucket, most recently seen in front
	buckets map[netip.Prefix]*list.Element
}

type bucket struct {
	key    netip.Prefix
	tokens float64
	last   time.Time
}

// NewRateLimiter returns a limiter of rate creations per second and client,
// with bursts of up to burst, honouring forwarding headers only when
// trustProxy is set (see Proxies.ClientIP). rate 0 disables it: Wrap then
// returns its handler unchanged. rate must be finite and not negative, burst
// at least 1 when rate is not 0.
func NewRateLimiter(rate float64, burst int, trustProxy bool, o RateOptions) (*RateLimiter, error) {
	switch {
	case math.IsNaN(rate) || math.IsInf(rate, 0) || rate < 0:
		return nil, fmt.Errorf("limit: rate must be a finite number >= 0 (0: off), got %g", rate)
	case rate > 0 && burst < 1:
		return nil, fmt.Errorf("limit: burst must be at least 1, got %d", burst)
	}
	l := &RateLimiter{rate: rate, burst: float64(burst), proxies: Proxies{Trust: trustProxy, Trusted: o.Trusted},
		counts: o.Counts, max: o.MaxClients, now: o.Now, rj: o.Rejection, buckets: map[netip.Prefix]*list.Element{}}
	if l.counts == nil {
		l.counts = IsCreation
	}
	if l.max <= 0 {
		l.max = DefaultMaxClients
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// Enabled reports whether the limiter limits anything (rate > 0).
func (l *RateLimiter) Enabled() bool { return l.rate > 0 }

// Wrap returns next behind the limit, or next itself when disabled.
func (l *RateLimiter) Wrap(next http.Handler) http.Handler {
	if !l.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.counts(r) {
			next.ServeHTTP(w, r)
			return
		}
		ok, wait := l.Allow(Key(l.proxies.ClientIP(r)))
		if !ok {
			secs := retrySeconds(wait)
			l.rj.write(w, r, errRateLimited(secs), strconv.Itoa(secs))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Allow takes a token from key's bucket. It reports whether there was one,
// and if not, how long until there is. A disabled limiter always allows.
func (l *RateLimiter) Allow(key netip.Prefix) (ok bool, wait time.Duration) {
	if !l.Enabled() {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evictIdle(now)
	var b *bucket
	if e, found := l.buckets[key]; found {
		b = e.Value.(*bucket)
		if d := now.Sub(b.last).Seconds(); d > 0 {
			b.tokens = math.Min(l.burst, b.tokens+d*l.rate)
			b.last = now
		}
		l.lru.MoveToFront(e)
	} else {
		for len(l.buckets) >= l.max {
			l.drop(l.lru.Back())
		}
		b = &bucket{key: key, tokens: l.burst, last: now}
		l.buckets[key] = l.lru.PushFront(b)
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	secs := math.Min((1-b.tokens)/l.rate, maxWait.Seconds())
	return false, time.Duration(secs * float64(time.Second))
}

// Clients returns the number of clients tracked now.
func (l *RateLimiter) Clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// evictIdle drops, oldest first, the buckets that have refilled completely.
func (l *RateLimiter) evictIdle(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		b := e.Value.(*bucket)
		if now.Sub(b.last).Seconds()*l.rate < l.burst {
			return
		}
		l.drop(e)
	}
}

func (l *RateLimiter) drop(e *list.Element) {
	delete(l.buckets, e.Value.(*bucket).key)
	l.lru.Remove(e)
}

// retrySeconds rounds wait up to whole seconds, at least 1.
func retrySeconds(wait time.Duration) int {
	s := math.Ceil(wait.Seconds())
	if s < 1 {
		return 1
	}
	if s > 1<<31-1 {
		return 1<<31 - 1
	}
	return int(s)
}

func errRateLimited(secs int) *httperr.Error {
	return httperr.Newf(http.StatusTooManyRequests, "rate_limited",
		"too many uploads created from your address; retry in %d s", secs).WithDetail("retry_after", secs)
}
