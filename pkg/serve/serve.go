// Package serve owns the read handler for published images, GET and HEAD
// /i/{sha256} and /i/{sha256}.{ext}: strict parsing of the name before storage
// is touched, the type, caching and safety headers, and handing the bytes to
// http.ServeContent, which owns Range (206/416), If-None-Match and If-Range
// (304/412), If-Modified-Since and HEAD.
//
// It does not route (the server mounts it as "GET /i/{name}", which also
// answers HEAD), does not own metrics (Options.OnServe reports bytes), does
// not check images (only what contentstore published is ever served) and
// never reads the upload area.
package serve

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tusimg/tusimg/pkg/contentstore"
	"github.com/tusimg/tusimg/pkg/httperr"
)

// Response header values for images.
const (
	cacheControl = "public, max-age=31536000, immutable"
	csp          = "default-src 'none'; sandbox"
	// DefaultCORP is the default Cross-Origin-Resource-Policy: images are
	// meant to be embedded by other sites (and by pages that set
	// Cross-Origin-Embedder-Policy: require-corp), and they are public.
	DefaultCORP = "cross-origin"
)

var (
	errBadHash = httperr.New(http.StatusBadRequest, "bad_hash",
		"image name must be a lowercase hex SHA-256, optionally followed by a lowercase extension")
	errNotFound = httperr.New(http.StatusNotFound, "not_found", "no such image")
	errMethod   = httperr.New(http.StatusMethodNotAllowed, "method_not_allowed",
		"only GET and HEAD are allowed")
)

// Options tunes a Handler. The zero value is valid.
type Options struct {
	// OnServe, when set, is called once after every image response with the
	// number of body bytes actually written (0 for HEAD, 304 and 416). It is
	// not called for the handler's own error answers (400, 404, 405, 500).
	// It is called from many goroutines at once.
	OnServe func(bytes int64)
	// RequestID, when set, returns the request's id; it is put in error
	// bodies and logs. When it is nil or returns "", the writer's
	// RequestID() string method is used, if it has one.
	RequestID func(*http.Request) string
	// CrossOriginResourcePolicy is the Cross-Origin-Resource-Policy header
	// sent with images: "cross-origin" (default, any site may embed them),
	// "same-site" or "same-origin" (to forbid hotlinking by other sites).
	CrossOriginResourcePolicy string
	// Redirect, when set, answers with a temporary redirect to the URL it
	// returns (e.g. a presigned S3 URL) instead of streaming the bytes; the
	// redirect may be cached for maxAge. A matching If-None-Match still gets
	// 304 without a redirect.
	Redirect func(ctx context.Context, rec contentstore.Record) (url string, maxAge time.Duration, err error)
}

// Handler serves published images; it implements http.Handler and is safe
// for concurrent use.
type Handler struct {
	store contentstore.Store
	opts  Options
	log   *slog.Logger
}

// New returns a Handler serving images from store. A nil log discards logs.
func New(store contentstore.Store, opts Options, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.CrossOriginResourcePolicy == "" {
		opts.CrossOriginResourcePolicy = DefaultCORP
	}
	return &Handler{store: store, opts: opts, log: log}
}

// ServeHTTP answers GET and HEAD for one image. The name is r.PathValue("name")
// or, when that is empty (handler not mounted with a {name} wildcard), the
// last segment of the request path. A malformed name is 400 bad_hash; an
// unknown hash, or an extension that does not name the stored type, is 404
// not_found; other methods get 405. Error bodies are httperr JSON.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, r, errMethod)
		return
	}
	sha, ext, err := ParseName(imageName(r))
	if err != nil {
		h.fail(w, r, errBadHash)
		return
	}
	ctx := r.Context()
	rec, err := h.store.Get(ctx, sha)
	if err != nil {
		h.fail(w, r, storeError(err))
		return
	}
	if ext != "" && !extMatches(ext, rec.Ext, rec.Type) {
		h.fail(w, r, errNotFound)
		return
	}
	if h.opts.Redirect != nil {
		h.redirect(w, r, rec)
		return
	}
	// One allocation for the lazy object and the writer that opens it.
	st := &struct {
		obj lazyObject
		bw  bodyWriter
	}{obj: lazyObject{store: h.store, ctx: ctx, sha: sha, size: rec.Size}}
	obj := &st.obj
	defer obj.Close()
	if rec.Size <= 0 {
		// An old record without it: take the size from the bytes.
		o, err := h.store.Open(ctx, sha)
		if err != nil {
			h.fail(w, r, storeError(err))
			return
		}
		obj.obj, obj.size = o, o.Size()
	}
	h.setHeaders(w.Header(), rec)
	bw := &st.bw
	*bw = bodyWriter{ResponseWriter: w, h: h, r: r, obj: obj}
	// No Last-Modified (a zero time): the ETag names the bytes exactly and
	// they never change, so it would only repeat it, and one more header
	// takes Go's header map past its small form, which costs about 5% of a
	// GET (cloned and sorted on every response). If-Modified-Since is then
	// ignored (200), as RFC 9110 allows without a Last-Modified.
	http.ServeContent(bw, r, "", time.Time{}, obj)
	if h.opts.OnServe != nil && !bw.failed {
		h.opts.OnServe(bw.n)
	}
}

// redirect sends the client to where the bytes are served from.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, rec contentstore.Record) {
	etag := `"` + rec.SHA256 + `"`
	if inm := r.Header.Get("If-None-Match"); inm == etag || inm == "*" || strings.Contains(inm, etag) {
		h.setHeaders(w.Header(), rec)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	url, maxAge, err := h.opts.Redirect(r.Context(), rec)
	if err != nil {
		h.fail(w, r, storeError(err))
		return
	}
	w.Header().Set("Location", url)
	w.Header().Set("Cache-Control", "private, max-age="+strconv.Itoa(int(maxAge/time.Second)))
	w.Header().Set("ETag", etag)
	w.WriteHeader(http.StatusFound)
}

// setHeaders sets every image header except those ServeContent owns
// (Content-Length, Content-Range, Accept-Ranges, Last-Modified). The values
// share one allocation; each has capacity 1, so Header.Add copies it.
func (h *Handler) setHeaders(hd http.Header, rec contentstore.Record) {
	ctype, safe := servedType(rec.Type)
	v := make([]string, 7)
	v[0], v[1], v[2], v[3], v[4], v[5], v[6] = ctype, `"`+rec.SHA256+`"`, cacheControl, "nosniff", csp,
		h.opts.CrossOriginResourcePolicy, "attachment"
	hd["Content-Type"] = v[0:1:1]
	if !safe {
		hd["Content-Disposition"] = v[6:7:7]
	}
	hd["Etag"] = v[1:2:2]
	hd["Cache-Control"] = v[2:3:3]
	hd["X-Content-Type-Options"] = v[3:4:4]
	hd["Content-Security-Policy"] = v[4:5:5]
	hd["Cross-Origin-Resource-Policy"] = v[5:6:6]
}

// imageName returns the requested name, unescaped.
func imageName(r *http.Request) string {
	if name := r.PathValue("name"); name != "" {
		return name
	}
	p := r.URL.EscapedPath()
	name, err := url.PathUnescape(p[strings.LastIndexByte(p, '/')+1:])
	if err != nil {
		return ""
	}
	return name
}

// storeError maps a store error to the public error.
func storeError(err error) *httperr.Error {
	if errors.Is(err, contentstore.ErrNotFound) {
		return errNotFound
	}
	return httperr.Internal(err)
}

// fail writes e; internal errors are logged with their cause, which never
// reaches the client.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, e *httperr.Error) {
	var id string
	if h.opts.RequestID != nil {
		id = h.opts.RequestID(r)
	}
	if x, ok := w.(interface{ RequestID() string }); ok && id == "" { // a middleware without request context
		id = x.RequestID()
	}
	if e.Status >= http.StatusInternalServerError {
		level := slog.LevelError
		if errors.Is(e.Cause, context.Canceled) {
			level = slog.LevelDebug // the client went away
		}
		h.log.Log(r.Context(), level, "serve.error", "request_id", id, "path", r.URL.Path, "err", e.Cause)
	}
	httperr.Write(w, r, e, id)
}
