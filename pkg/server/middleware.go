package server

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tusimg/tusimg/pkg/reqctx"
)

// wrap gives every request a request id (X-Request-ID, echoed), a logger
// carrying it, the public base URL, and records route metrics.
func (s *Server) wrap(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := cleanRequestID(r.Header.Get("X-Request-ID"))
		if id == "" {
			id = reqctx.NewID()
		}
		w.Header().Set("X-Request-ID", id)
		log := s.log.With("request_id", id)
		ctx := reqctx.With(r.Context(), reqctx.Info{ID: id, Method: r.Method, Log: log, BaseURL: s.baseURL(r)})
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r.WithContext(ctx))
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.Request(route, sw.code, d.Seconds())
		level := s.accessLevel
		if sw.code >= 500 {
			level = errorLevel
		}
		log.Log(ctx, level, "http.request", "method", r.Method, "path", r.URL.Path, "route", route,
			"status", sw.code, "duration_ms", float64(d.Microseconds())/1000, "remote", r.RemoteAddr)
	})
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
	return scheme + "://" + host
}

// statusWriter remembers the status code. It keeps io.ReaderFrom (sendfile)
// and lets http.ResponseController reach the connection through Unwrap.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
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
