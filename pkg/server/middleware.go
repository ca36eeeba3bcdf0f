package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tusimg/tusimg/pkg/metrics"
	"github.com/tusimg/tusimg/pkg/reqctx"
)

// wrap gives every request a request id (X-Request-ID, echoed), a logger
// carrying it, the public base URL, and records route metrics and the
// access log line.
func (s *Server) wrap(route string, h http.Handler) http.Handler {
	rm := s.metrics.Route(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r)
		st := &requestState{sw: statusWriter{ResponseWriter: w}, idValue: [1]string{id}}
		w.Header()[requestIDHeader] = st.idValue[:]
		r.Header[requestIDHeader] = st.idValue[:] // tusd logs it as requestId
		// The logger goes into the request's context, which tusd keeps
		// for GracefulRequestCompletionTimeout after the request: it must
		// not hold the response (and with it the request) that long.
		log := requestLogger(s.log, id)
		ctx := reqctx.With(r.Context(), reqctx.Info{ID: id, Method: r.Method, Log: log, BaseURL: s.baseURL(r)})
		h.ServeHTTP(&st.sw, r.WithContext(ctx))
		s.finish(ctx, log, rm, route, r, st.sw.code, start)
	})
}

// finish records a request's metrics and access log line.
func (s *Server) finish(ctx context.Context, log *slog.Logger, rm *metrics.Route, route string, r *http.Request,
	code int, start time.Time) {
	if code == 0 {
		code = http.StatusOK
	}
	d := time.Since(start)
	rm.Request(code, d.Seconds())
	level := s.accessLevel
	if code >= 500 {
		level = errorLevel
	}
	if log.Enabled(ctx, level) { // else the attributes would still be built
		log.LogAttrs(ctx, level, "http.request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("route", route), slog.Int("status", code),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("remote", r.RemoteAddr))
	}
}

// wrapLean is wrap for the image route when reads need no authentication:
// the same metrics and access log, but no request context (a copy of the
// request, a context value and a logger per GET). The handler must not
// need reqctx.From; the read handler asks the writer for the id
// (statusWriter.RequestID).
// Only error answers keep X-Request-Id (their JSON carries it too): on an
// image it would be the ninth header, which takes Go's header map past its
// small form, about 5% of a GET's CPU.
func (s *Server) wrapLean(route string, h http.Handler) http.Handler {
	rm := s.metrics.Route(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r)
		st := &leanState{sw: statusWriter{ResponseWriter: w}, idValue: [1]string{id}}
		st.sw.errorID = st.idValue[:]
		h.ServeHTTP(&st.sw, r)
		s.finish(r.Context(), requestLogger(s.log, id), rm, route, r, st.sw.code, start)
	})
}

// leanState is what wrapLean allocates per request, in one piece.
type leanState struct {
	sw      statusWriter
	idValue [1]string
}

// requestIDHeader is X-Request-ID in the canonical spelling of Go's header
// maps, so reading and setting it need not re-spell it on every request.
const requestIDHeader = "X-Request-Id"

// requestState is what wrap allocates per request, in one piece.
type requestState struct {
	sw      statusWriter
	idValue [1]string // the X-Request-ID header value (capacity 1: Add copies)
}

// requestID is the client's X-Request-ID when it is short and plain, else a
// fresh one.
func requestID(r *http.Request) string {
	if id := cleanRequestID(r.Header.Get(requestIDHeader)); id != "" {
		return id
	}
	return reqctx.NewID()
}

// cleanRequestID accepts a client's id only if short and plain.
func cleanRequestID(id string) string {
	if len(id) == 0 || len(id) > 64 {
		return ""
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)) {
			return ""
		}
	}
	return id
}

// baseURL is the public scheme://host of this server for r.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return strings.TrimRight(s.cfg.BaseURL, "/")
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if s.cfg.TrustProxy {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			scheme = p
		}
		if h := r.Header.Get("X-Forwarded-Host"); h != "" && !strings.ContainsAny(h, "/\\@ ") {
			host = h
		}
	}
	// Clients mostly name the same host: keep the last answer.
	if last := s.lastBase.Load(); last != nil && last.scheme == scheme && last.host == host {
		return last.base
	}
	base := scheme + "://" + host
	s.lastBase.Store(&baseURLEntry{scheme: scheme, host: host, base: base})
	return base
}

type baseURLEntry struct{ scheme, host, base string }

// statusWriter remembers the status code. It keeps io.ReaderFrom (sendfile)
// and lets http.ResponseController reach the connection through Unwrap.
type statusWriter struct {
	http.ResponseWriter
	code int
	// errorID, when set, is the X-Request-Id value to add to an answer of
	// 400 or more (wrapLean): the header is never put on other answers.
	errorID []string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	if code >= 400 && w.errorID != nil {
		w.ResponseWriter.Header()[requestIDHeader] = w.errorID
	}
	w.ResponseWriter.WriteHeader(code)
}

// RequestID is the request's id when wrapLean set one (serve.Handler asks
// for it when it answers an error).
func (w *statusWriter) RequestID() string {
	if len(w.errorID) == 0 {
		return ""
	}
	return w.errorID[0]
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(w.ResponseWriter, src)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
