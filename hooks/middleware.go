package hooks

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tusimg/tusimg/pkg/auth"
	"github.com/tusimg/tusimg/pkg/httperr"
	"github.com/tusimg/tusimg/pkg/reqctx"
	"github.com/tusimg/tusimg/pkg/uploadstore"
)

// Middleware wraps tusd's handler (mounted with the /files/ prefix stripped,
// so r.URL.Path is the upload id). Before tusd it refuses, with JSON errors,
// what tusd would get wrong: malformed Upload-Metadata (400; tusd drops bad
// pairs silently), an Upload-Length over the limit (413), a PATCH with the
// wrong Content-Type (415; tusd says 400). Around tusd it adds the expiration
// extension (Upload-Expires, advertised in Tus-Extension) and, for a session
// that already completed, the Image-Sha256/Image-Url headers, so a retried
// final PATCH or a HEAD gets the same outcome as the first request.
func (h *Hooks) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := reqctx.From(r.Context())
		method := r.Method
		if o := r.Header.Get("X-HTTP-Method-Override"); method == http.MethodPost && o != "" {
			method = o
		}
		if e := h.precheck(r, method); e != nil {
			h.Metrics.Rejected(e.Code)
			h.fail(w, r, e, info.ID)
			return
		}
		if e := h.authorize(r, method, &info); e != nil {
			h.fail(w, r, e, info.ID)
			return
		}
		if method == http.MethodPatch || (method == http.MethodPost && r.ContentLength != 0) {
			h.Metrics.UploadStarted()
			defer h.Metrics.UploadDone()
		}
		info.Method = method
		ctx := reqctx.With(r.Context(), info)
		if v := r.Header.Get("Upload-Checksum"); v != "" && (method == http.MethodPatch || method == http.MethodPost) {
			sum, err := uploadstore.ParseChecksum(v)
			if err != nil {
				h.fail(w, r, httperr.As(err), info.ID)
				return
			}
			ctx = uploadstore.WithChecksum(ctx, sum)
		}
		r = r.WithContext(ctx)
		if method == http.MethodPatch && h.replayFinal(w, r, info) {
			return
		}
		next.ServeHTTP(&interceptor{ResponseWriter: w, h: h, method: method, id: strings.Trim(r.URL.Path, "/"), ctx: ctx,
			baseURL: info.BaseURL}, r)
	})
}

func (h *Hooks) precheck(r *http.Request, method string) *httperr.Error {
	tusV1 := r.Header.Get("Upload-Draft-Interop-Version") == ""
	switch {
	case method == http.MethodPost && tusV1:
		meta, err := ParseMetadata(r.Header.Get("Upload-Metadata"), h.cfg.MaxMetadataSize, h.cfg.MaxMetadataKeys)
		if err != nil {
			return httperr.As(err)
		}
		if _, reserved := meta[uploadstore.OwnerKey]; reserved {
			return badMeta("Upload-Metadata key %q is reserved", uploadstore.OwnerKey)
		}
		if n, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64); err == nil {
			if max := h.Checker.Policy().MaxSize; n > max {
				return tooLarge(n, max)
			}
		}
	case method == http.MethodPatch && tusV1 && r.Header.Get("Tus-Resumable") == "1.0.0":
		if ct := r.Header.Get("Content-Type"); ct != "application/offset+octet-stream" {
			return httperr.New(http.StatusUnsupportedMediaType, "bad_content_type",
				"PATCH requests must have Content-Type: application/offset+octet-stream")
		}
	}
	return nil
}

// authorize authenticates r when auth is on (OPTIONS, the CORS preflight,
// is exempt), records the subject in info, and refuses requests on another
// subject's upload.
func (h *Hooks) authorize(r *http.Request, method string, info *reqctx.Info) *httperr.Error {
	if !h.cfg.Auth.Enabled() || method == http.MethodOptions {
		return nil
	}
	claims, err := h.cfg.Auth.Authenticate(r)
	if err != nil {
		return httperr.As(err)
	}
	info.Subject, info.MaxSize = claims.Subject, claims.MaxSize
	if id := strings.Trim(r.URL.Path, "/"); id != "" {
		if owner := h.Uploads.Owner(r.Context(), id); owner != "" && owner != claims.Subject {
			return auth.ErrForbidden
		}
	}
	return nil
}

// fail writes an error of our own with the CORS headers tusd would have
// set, so browser clients can read it.
func (h *Hooks) fail(w http.ResponseWriter, r *http.Request, e *httperr.Error, requestID string) {
	h.setCORS(w, r)
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tusimg"`)
	}
	w.Header().Set("Tus-Resumable", "1.0.0")
	httperr.Write(w, r, e, requestID)
}

func (h *Hooks) setCORS(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || h.cfg.CORSOrigins == nil || !h.cfg.CORSOrigins.MatchString(origin) {
		return
	}
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", origin)
	hdr.Set("Access-Control-Expose-Headers", h.cfg.CORSExpose)
	hdr.Add("Vary", "Origin")
}

// replayFinal answers a retried final PATCH of a completed session (the
// client lost the first answer) with the first answer: 204, the final offset
// and the Image-* headers. tusd would say 409, since the offset moved on.
func (h *Hooks) replayFinal(w http.ResponseWriter, r *http.Request, info reqctx.Info) bool {
	id := strings.Trim(r.URL.Path, "/")
	o, ok := h.Uploads.Outcome(r.Context(), id)
	if !ok || o.State != uploadstore.StateCompleted {
		return false
	}
	off, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || r.ContentLength < 0 || off+r.ContentLength != o.Size {
		return false
	}
	h.setCORS(w, r)
	hdr := w.Header()
	hdr.Set("Tus-Resumable", "1.0.0")
	hdr.Set("Upload-Offset", strconv.FormatInt(o.Size, 10))
	hdr.Set("Image-Sha256", o.SHA256)
	hdr.Set("Image-Url", info.BaseURL+o.URL)
	w.WriteHeader(http.StatusNoContent)
	return true
}

// interceptor adjusts tusd's response headers just before they are written.
type interceptor struct {
	http.ResponseWriter
	h       *Hooks
	method  string
	id      string
	baseURL string
	ctx     context.Context
	once    sync.Once
}

func (i *interceptor) WriteHeader(code int) {
	if code >= 200 {
		i.once.Do(func() { i.decorate(code) })
	}
	i.ResponseWriter.WriteHeader(code)
}

func (i *interceptor) Write(b []byte) (int, error) {
	i.once.Do(func() { i.decorate(http.StatusOK) })
	return i.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (used by tusd for deadlines) reach
// the real connection.
func (i *interceptor) Unwrap() http.ResponseWriter { return i.ResponseWriter }

// Flush implements http.Flusher.
func (i *interceptor) Flush() {
	if f, ok := i.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (i *interceptor) decorate(code int) {
	hdr := i.Header()
	switch {
	case i.method == http.MethodOptions:
		if ext := hdr.Get("Tus-Extension"); ext != "" {
			hdr.Set("Tus-Extension", ext+",expiration,checksum")
			hdr.Set("Tus-Checksum-Algorithm", uploadstore.ChecksumAlgorithms)
		}
	case code == http.StatusCreated && hdr.Get("Image-Sha256") == "":
		hdr.Set("Upload-Expires", time.Now().Add(i.h.Uploads.TTL()).UTC().Format(http.TimeFormat))
	case (i.method == http.MethodPatch || i.method == http.MethodHead) && code < 300 && hdr.Get("Image-Sha256") == "":
		i.ended(hdr)
	}
}

// ended sets the Image-* headers of a completed session, or Upload-Expires
// for a live one.
func (i *interceptor) ended(hdr http.Header) {
	if o, ok := i.h.Uploads.Outcome(i.ctx, i.id); ok {
		if o.State == uploadstore.StateCompleted {
			hdr.Set("Image-Sha256", o.SHA256)
			hdr.Set("Image-Url", i.baseURL+o.URL)
		}
		return
	}
	if exp, ok := i.h.Uploads.ExpiresAt(i.ctx, i.id); ok {
		hdr.Set("Upload-Expires", exp.Format(http.TimeFormat))
	}
}
