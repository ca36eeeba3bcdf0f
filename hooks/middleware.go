package hooks

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
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
		orig := info
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
		ctx := r.Context()
		if info != orig { // a method override or an authenticated subject
			ctx = reqctx.With(ctx, info)
		}
		if v := r.Header.Get("Upload-Checksum"); v != "" && (method == http.MethodPatch || method == http.MethodPost) {
			sum, err := uploadstore.ParseChecksum(v)
			if err != nil {
				h.fail(w, r, httperr.As(err), info.ID)
				return
			}
			ctx = uploadstore.WithChecksum(ctx, sum)
		}
		ctx, note, _ := uploadstore.WithRequest(ctx, r.ContentLength)
		r = r.WithContext(ctx)
		next.ServeHTTP(&interceptor{ResponseWriter: w, h: h, r: r, method: method, id: strings.Trim(r.URL.Path, "/"),
			ctx: ctx, note: note, baseURL: info.BaseURL}, r)
		// tusd keeps the request's context for --request-grace after
		// this: the note (tusd's FileInfo with its maps) need not live
		// that long. Nothing reads it once the answer is written.
		*note = uploadstore.Note{}
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

// interceptor adjusts tusd's answer just before it is written: extension
// headers, Upload-Expires, the Image-* headers of a completed session, the
// first answer again for a retried final PATCH, and the publish of a
// session that is complete but was not published (an earlier pre-finish
// failed inside the server). tusd holds the upload's lock meanwhile.
type interceptor struct {
	http.ResponseWriter
	h       *Hooks
	r       *http.Request
	method  string
	id      string
	baseURL string
	ctx     context.Context
	note    *uploadstore.Note
	once    sync.Once
	swallow bool // we wrote the body: drop tusd's
}

func (i *interceptor) WriteHeader(code int) {
	if code < 200 {
		i.ResponseWriter.WriteHeader(code)
		return
	}
	i.once.Do(func() {
		code, body := i.decorate(code)
		if i.ctx.Err() != nil {
			// tusd cut the body short (e.g. the lock was asked for): the
			// connection cannot be reused safely.
			i.Header().Set("Connection", "close")
		}
		i.ResponseWriter.WriteHeader(code)
		if body != nil {
			i.swallow = true
			if i.method != http.MethodHead {
				_, _ = i.ResponseWriter.Write(body)
			}
		}
	})
}

func (i *interceptor) Write(b []byte) (int, error) {
	i.WriteHeader(http.StatusOK)
	if i.swallow {
		return len(b), nil
	}
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

// decorate returns the status to send and, when it replaces tusd's answer,
// the body.
func (i *interceptor) decorate(code int) (int, []byte) {
	hdr := i.Header()
	switch {
	case i.method == http.MethodOptions:
		if ext := hdr.Get("Tus-Extension"); ext != "" {
			hdr.Set("Tus-Extension", ext+",expiration,checksum")
			hdr.Set("Tus-Checksum-Algorithm", uploadstore.ChecksumAlgorithms)
		}
	case code == http.StatusCreated && hdr.Get("Image-Sha256") == "":
		i.setExpires(hdr)
	case i.method == http.MethodPatch && code == http.StatusConflict:
		return i.replay(hdr, code)
	case (i.method == http.MethodPatch || i.method == http.MethodHead) && code < 300 && hdr.Get("Image-Sha256") == "":
		return i.ended(hdr, code)
	}
	return code, nil
}

func (i *interceptor) setExpires(hdr http.Header) {
	hdr.Set("Upload-Expires", time.Now().Add(i.h.Uploads.TTL()).UTC().Format(http.TimeFormat))
}

// replay answers a retried final PATCH of a completed session (the client
// lost the first answer) with the first answer: 204, the final offset and
// the Image-* headers, where tusd says 409 since the offset moved on.
func (i *interceptor) replay(hdr http.Header, code int) (int, []byte) {
	o := i.note.Outcome
	off, err := strconv.ParseInt(i.r.Header.Get("Upload-Offset"), 10, 64)
	if o == nil || o.State != uploadstore.StateCompleted || err != nil || i.r.ContentLength < 0 || off+i.r.ContentLength != o.Size {
		return code, nil
	}
	if !i.sameAsStored(o.SHA256, off) {
		return code, nil // another client's bytes, not a retry: tusd's 409 stands
	}
	for _, k := range []string{"Content-Type", "Content-Length"} {
		hdr.Del(k)
	}
	hdr.Set("Upload-Offset", strconv.FormatInt(o.Size, 10))
	i.setImage(hdr, o.SHA256, o.URL)
	return http.StatusNoContent, []byte{}
}

// sameAsStored reports whether the request body equals the published image
// from offset off on: only then is the request a retry of the final chunk.
func (i *interceptor) sameAsStored(sha string, off int64) bool {
	obj, err := i.h.Images.Open(i.ctx, sha)
	if err != nil {
		return false
	}
	defer obj.Close()
	if _, err := obj.Seek(off, io.SeekStart); err != nil {
		return false
	}
	const block = 32 << 10
	a, b := make([]byte, block), make([]byte, block)
	for left := i.r.ContentLength; left > 0; {
		n := min(block, left)
		if _, err := io.ReadFull(i.r.Body, a[:n]); err != nil {
			return false
		}
		if _, err := io.ReadFull(obj, b[:n]); err != nil || !bytes.Equal(a[:n], b[:n]) {
			return false
		}
		left -= n
	}
	return true
}

func (i *interceptor) setImage(hdr http.Header, sha, url string) {
	hdr.Set("Image-Sha256", sha)
	hdr.Set("Image-Url", i.baseURL+url)
}

// ended sets the Image-* headers of a completed session, publishes one that
// is complete but unpublished, or sets Upload-Expires for a live one.
func (i *interceptor) ended(hdr http.Header, code int) (int, []byte) {
	if o := i.note.Outcome; o != nil {
		if o.State != uploadstore.StateCompleted {
			return code, nil
		}
		if i.method == http.MethodPatch && i.r.ContentLength != 0 {
			// tusd ignores bytes sent to a complete upload; say so.
			hdr.Del("Content-Length")
			hdr.Set("Content-Type", "application/json; charset=utf-8")
			hdr.Set("Connection", "close") // the body was not read
			e := httperr.New(http.StatusRequestEntityTooLarge, "upload_complete",
				"this upload is already complete; bytes sent after its end are refused")
			return e.Status, e.JSON(reqctx.From(i.ctx).ID)
		}
		i.setImage(hdr, o.SHA256, o.URL)
		return code, nil
	}
	info := i.note.Info
	off, err := strconv.ParseInt(hdr.Get("Upload-Offset"), 10, 64)
	if i.note.Known && !info.SizeIsDeferred && err == nil && off == info.Size {
		info.Offset = off
		return i.finishNow(hdr, info, code)
	}
	if i.method == http.MethodPatch {
		i.setExpires(hdr) // progress was just made
	} else if exp, ok := i.h.Uploads.ExpiresAt(i.ctx, i.id); ok {
		hdr.Set("Upload-Expires", exp.Format(http.TimeFormat))
	}
	return code, nil
}

// finishNow checks and publishes a complete session whose pre-finish did not
// get through (a 5xx earlier), so the client never sees "complete" without
// the image: it gets the Image-* headers, the rejection, or a 503 to retry.
func (i *interceptor) finishNow(hdr http.Header, info handler.FileInfo, code int) (int, []byte) {
	rec, err := i.h.Finish(i.ctx, info)
	if err == nil {
		i.setImage(hdr, rec.SHA256, rec.URL)
		return code, nil
	}
	e := httperr.As(err)
	if e.Status >= 500 {
		i.h.Log.ErrorContext(i.ctx, "upload.finish_retry_failed", "upload_id", info.ID, "error", err)
		e = httperr.New(http.StatusServiceUnavailable, "publish_pending",
			"the upload is complete but could not be published yet; retry shortly")
		hdr.Set("Retry-After", "5")
	} else if i.method == http.MethodHead {
		e = httperr.New(http.StatusGone, "upload_rejected", "this upload was rejected: "+e.Message)
	}
	hdr.Del("Content-Length")
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	return e.Status, e.JSON(reqctx.From(i.ctx).ID)
}
