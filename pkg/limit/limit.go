// Package limit owns admission control in front of tusimg's handlers: a cap
// on the number of upload requests served at once (Concurrency, 503
// too_busy), a per-client-IP token bucket for upload creation (RateLimiter,
// 429 rate_limited) with the rule that decides which address a request comes
// from (Proxies.ClientIP), and a read deadline that keeps a declared but
// never sent body from holding a connection (BodyDeadline).
//
// All are http.Handler middleware. The limiters decide on the request line
// and headers alone, never read a request body, and answer with tusimg's
// JSON errors (pkg/httperr) and a Retry-After header. Nothing here knows
// about tus, routing, metrics or configuration: the caller decides which
// handlers to wrap and passes plain values in.
package limit

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/tusimg/tusimg/pkg/httperr"
	"github.com/tusimg/tusimg/pkg/reqctx"
)

// Rejection configures how a limiter answers a request it turns away. The
// zero value is usable: no CORS headers, no callback, the request id from
// pkg/reqctx.
type Rejection struct {
	// CORSOrigins, when not nil, is the (anchored) pattern of allowed browser
	// origins. A rejected request whose Origin matches gets
	// Access-Control-Allow-Origin: <origin>, Vary: Origin and
	// Access-Control-Expose-Headers (CORSExpose plus Retry-After and
	// X-Request-ID), so a browser client can read the status and Retry-After.
	// Limiters sit in front of tusd, whose own CORS handling never sees a
	// rejected request.
	CORSOrigins *regexp.Regexp
	// CORSExpose is the Access-Control-Expose-Headers value of the wrapped
	// handler (e.g. tusd's), extended as above.
	CORSExpose string
	// OnReject, when not nil, is called once per rejection with the error
	// code ("too_busy" or "rate_limited"), e.g. to count it. It must be safe
	// for concurrent use.
	OnReject func(code string)
	// RequestID returns the id written into the error body. Default: the id
	// pkg/reqctx carries in the request's context ("" when there is none).
	RequestID func(r *http.Request) string
}

// drainTimeout bounds how long the server may keep reading the unread body of
// a rejected request after the answer was sent. Go's server reads up to
// 256 KiB of it to keep the connection usable; a client that stalls its body
// must not hold the connection beyond this.
const drainTimeout = 2 * time.Second

// write sends e for r. When r has a body (which the limiter never reads) the
// connection is closed after the answer and the server's attempt to drain
// the body is bounded by drainTimeout.
func (rj Rejection) write(w http.ResponseWriter, r *http.Request, e *httperr.Error, retryAfter string) {
	if rj.OnReject != nil {
		rj.OnReject(e.Code)
	}
	h := w.Header()
	h.Set("Retry-After", retryAfter)
	if origin := r.Header.Get("Origin"); origin != "" && rj.CORSOrigins != nil && rj.CORSOrigins.MatchString(origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", exposeHeaders(rj.CORSExpose))
	}
	if r.ContentLength != 0 && r.ProtoMajor == 1 {
		h.Set("Connection", "close")
		// ErrNotSupported (e.g. a ResponseRecorder) only loses the bound.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(drainTimeout))
	}
	id := ""
	if rj.RequestID != nil {
		id = rj.RequestID(r)
	} else {
		id = reqctx.From(r.Context()).ID
	}
	httperr.Write(w, r, e, id)
}

// exposeHeaders returns base with Retry-After and X-Request-ID added unless
// already listed.
func exposeHeaders(base string) string {
	out := strings.TrimSpace(base)
	for _, name := range []string{"Retry-After", "X-Request-ID"} {
		listed := false
		for _, f := range strings.Split(out, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				listed = true
				break
			}
		}
		if !listed {
			if out != "" {
				out += ", "
			}
			out += name
		}
	}
	return out
}

// method returns r's method after tus's X-HTTP-Method-Override (honoured on
// POST only, as tusd does).
func method(r *http.Request) string {
	if o := r.Header.Get("X-HTTP-Method-Override"); r.Method == http.MethodPost && o != "" {
		return strings.ToUpper(o)
	}
	return r.Method
}

// IsUpload reports whether r carries upload bytes: a PATCH (also POST with
// X-HTTP-Method-Override: PATCH), or a POST with a body (Content-Length not
// 0, chunked included), which is a tus creation-with-upload or a one-shot
// upload. It is Concurrency's default predicate.
func IsUpload(r *http.Request) bool {
	m := method(r)
	return m == http.MethodPatch || (m == http.MethodPost && r.ContentLength != 0)
}

// IsCreation reports whether r creates an upload: a POST that is not turned
// into another method by X-HTTP-Method-Override. On the routes a RateLimiter
// wraps (POST /files/, POST /api/v1/images) that is a tus creation (with or
// without a first chunk, tus 1.0 or the IETF draft) or a one-shot upload. It
// is RateLimiter's default predicate.
func IsCreation(r *http.Request) bool {
	return method(r) == http.MethodPost
}
