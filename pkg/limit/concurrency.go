package limit

import (
	"fmt"
	"net/http"

	"github.com/tusimg/tusimg/pkg/httperr"
)

// ConcurrencyOptions are Concurrency's optional settings; the zero value is
// usable.
type ConcurrencyOptions struct {
	// Counts decides which requests take a slot. Default: IsUpload (PATCH,
	// and POST with a body). Requests it does not count are never limited.
	Counts func(r *http.Request) bool
	// Rejection configures the 503 answer (CORS, callback, request id).
	Rejection Rejection
}

// Concurrency admits at most a fixed number of counted (upload) requests at
// once. A request that would exceed it is answered at once, without reading
// its body, with 503 and the JSON error too_busy and Retry-After: 1; when it
// has a body, the connection is closed after the answer. A counted request
// holds its slot until the wrapped handler returns (or panics). It never
// waits for a slot: a busy server answers fast instead of queueing.
//
// Safe for concurrent use; one Concurrency may wrap several handlers, which
// then share its slots.
type Concurrency struct {
	max    int
	slots  chan struct{}
	counts func(*http.Request) bool
	rj     Rejection
}

// NewConcurrency returns a limiter of max simultaneous counted requests.
// max must be at least 1.
func NewConcurrency(max int, o ConcurrencyOptions) (*Concurrency, error) {
	if max < 1 {
		return nil, fmt.Errorf("limit: concurrency must be at least 1, got %d", max)
	}
	l := &Concurrency{max: max, slots: make(chan struct{}, max), counts: o.Counts, rj: o.Rejection}
	if l.counts == nil {
		l.counts = IsUpload
	}
	return l, nil
}

// Wrap returns next behind the limit.
func (l *Concurrency) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.counts(r) {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case l.slots <- struct{}{}:
		default:
			l.rj.write(w, r, errTooBusy, "1")
			return
		}
		defer func() { <-l.slots }()
		next.ServeHTTP(w, r)
	})
}

// InFlight returns the number of counted requests being served now.
func (l *Concurrency) InFlight() int { return len(l.slots) }

// Max returns the limit.
func (l *Concurrency) Max() int { return l.max }

var errTooBusy = httperr.New(http.StatusServiceUnavailable, "too_busy",
	"the server is handling too many uploads at once; retry after the number of seconds in Retry-After (tus clients resume where they stopped)")
