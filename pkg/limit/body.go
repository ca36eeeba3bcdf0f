package limit

import (
	"net/http"
	"time"
)

// BodyDeadline returns next behind a read deadline of d from the request's
// start, set on every request that declares a body (Content-Length not 0,
// or chunked), so that a body that never arrives cannot hold a connection
// forever. The server has no whole-request ReadTimeout (it would cut large
// uploads), and Go's server, before answering a handler that did not read
// the body (health, config, image reads, tus HEAD/DELETE, refused uploads),
// first waits for up to 256 KiB of it: without a deadline such a request is
// never answered and its connection never freed.
//
// Handlers that do read bodies keep working: tusd (NetworkTimeout) and the
// one-shot upload move the deadline forward on every read, so a slow but
// moving upload is never cut; only the first bytes must come within d. Use
// the upload progress timeout (config NetworkTimeout) as d. d <= 0 returns
// next unchanged.
func BodyDeadline(d time.Duration, next http.Handler) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			// ErrNotSupported (e.g. a ResponseRecorder) only loses the bound.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}
