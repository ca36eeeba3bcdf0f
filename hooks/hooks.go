// Package hooks adapts tusd's events to tusimg's checks and stores: the
// pre-create hook judges what headers and metadata already tell, the
// pre-finish hook checks the finished bytes (imagecheck) and publishes them
// (contentstore), and the middleware adds what tusd lacks around its
// handler (strict metadata, expiration headers, the same outcome for a
// retried request). It also runs startup recovery and the janitor.
//
// It owns no storage and no HTTP routing of its own.
package hooks

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tusimg/tusimg/pkg/auth"
	"github.com/tusimg/tusimg/pkg/contentstore"
	"github.com/tusimg/tusimg/pkg/httperr"
	"github.com/tusimg/tusimg/pkg/imagecheck"
	"github.com/tusimg/tusimg/pkg/metrics"
	"github.com/tusimg/tusimg/pkg/reqctx"
	"github.com/tusimg/tusimg/pkg/uploadstore"
)

// Config holds what the hooks need besides their dependencies.
type Config struct {
	MaxMetadataSize int // bytes of Upload-Metadata
	MaxMetadataKeys int
	// CORSOrigins and CORSExpose mirror tusd's CORS settings for the answers
	// the middleware writes itself.
	CORSOrigins *regexp.Regexp
	CORSExpose  string
	// Auth, when enabled, requires a bearer token on every tus request but
	// OPTIONS and confines each subject to its own uploads.
	Auth *auth.Verifier
}

// Locker is tusd's upload locker plus a non-disturbing try, for the janitor.
type Locker = uploadstore.TryLocker

// Deps are the parts the hooks wire together. All are required.
type Deps struct {
	Checker *imagecheck.Checker
	Uploads *uploadstore.Store
	Locker  Locker
	Images  contentstore.Store
	Metrics *metrics.Metrics
	Log     *slog.Logger
}

// Hooks implements tusd's callbacks. Safe for concurrent use.
type Hooks struct {
	cfg Config
	Deps
}

// New returns Hooks for cfg and deps.
func New(cfg Config, d Deps) (*Hooks, error) {
	if d.Checker == nil || d.Uploads == nil || d.Locker == nil || d.Images == nil || d.Metrics == nil || d.Log == nil {
		return nil, errors.New("hooks: every dependency is required")
	}
	return &Hooks{cfg: cfg, Deps: d}, nil
}

// Install sets the hooks in a tusd config.
func (h *Hooks) Install(c *handler.Config) {
	c.PreUploadCreateCallback = h.PreCreate
	c.PreFinishResponseCallback = h.PreFinish
}

// PreCreate rejects before any byte is stored what the headers already tell:
// a declared file name or type outside the allow-list (415), a name and type
// that disagree (422), an oversized Upload-Length (413) or a malformed sha256
// metadata value (400). It also sanitises the stored file name.
func (h *Hooks) PreCreate(ev handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
	ctx := ev.Context
	info := ev.Upload
	var changes handler.FileInfoChanges
	rq := reqctx.From(ctx)
	max := h.Checker.Policy().MaxSize
	if rq.MaxSize > 0 && rq.MaxSize < max {
		max = rq.MaxSize
	}
	if !info.SizeIsDeferred && info.Size > max {
		return handler.HTTPResponse{}, changes, h.rejectEarly(ctx, tooLarge(info.Size, max))
	}
	m := meta(info.MetaData)
	if err := h.Checker.CheckDeclared(m); err != nil {
		return handler.HTTPResponse{}, changes, h.rejectEarly(ctx, httperr.As(err))
	}
	if sum := info.MetaData["sha256"]; sum != "" && !isHexSHA256(strings.ToLower(sum)) {
		return handler.HTTPResponse{}, changes, h.rejectEarly(ctx, httperr.New(http.StatusBadRequest, "bad_metadata",
			"metadata sha256 must be 64 hexadecimal characters"))
	}
	changes.MetaData = copyMeta(info.MetaData)
	for _, k := range []string{"filename", "name"} {
		if _, ok := changes.MetaData[k]; ok {
			changes.MetaData[k] = SanitizeFilename(changes.MetaData[k])
		}
	}
	delete(changes.MetaData, uploadstore.OwnerKey)
	if rq.Subject != "" {
		changes.MetaData[uploadstore.OwnerKey] = rq.Subject
	}
	return handler.HTTPResponse{}, changes, nil
}

func (h *Hooks) rejectEarly(ctx context.Context, e *httperr.Error) error {
	h.Metrics.Rejected(e.Code)
	reqctx.From(ctx).Log.InfoContext(ctx, "upload.refused", "code", e.Code, "status", e.Status)
	return uploadstore.TusError(ctx, e)
}

func tooLarge(size, max int64) *httperr.Error {
	return httperr.Newf(http.StatusRequestEntityTooLarge, "too_large",
		"upload is %d bytes, more than the limit of %d bytes", size, max).WithDetail("limit", max).WithDetail("size", size)
}

// PreFinish checks a finished upload and publishes it. Accepted: the answer
// carries Image-Sha256 and Image-Url. Rejected: the bytes are deleted, the
// rejection is remembered for retries and the status API, and the client gets
// the status and JSON body of the rejection.
func (h *Hooks) PreFinish(ev handler.HookEvent) (handler.HTTPResponse, error) {
	ctx := ev.Context
	rec, err := h.Finish(ctx, ev.Upload)
	if err != nil {
		return handler.HTTPResponse{}, uploadstore.Public(ctx, err)
	}
	return handler.HTTPResponse{Header: handler.HTTPHeader{
		"Image-Sha256": rec.SHA256,
		"Image-Url":    reqctx.From(ctx).BaseURL + rec.URL,
	}}, nil
}

// Finish checks and publishes the finished upload described by info, then
// ends its session. A rejection (4xx) is returned as *httperr.Error after the
// session was ended as rejected; other errors leave the session for a retry.
func (h *Hooks) Finish(ctx context.Context, info handler.FileInfo) (contentstore.Record, error) {
	sum, err := h.Uploads.Digest(ctx, info.ID, info.Size)
	if err != nil {
		return contentstore.Record{}, err
	}
	id, size := info.ID, info.Size
	in := Input{Source: h.Uploads.Source(id), Size: size, SHA256: sum, Meta: info.MetaData, UploadID: id,
		Open: func() (io.ReaderAt, func() error, error) {
			r, closeFn, err := h.Uploads.OpenData(ctx, id, size)
			return r, closeFn, err
		}}
	rec, err := h.Publish(ctx, in)
	var pub *httperr.Error
	if errors.As(err, &pub) && pub.Status < 500 {
		if rerr := h.Uploads.Reject(ctx, info, pub); rerr != nil {
			return rec, rerr
		}
		return rec, pub
	}
	if err != nil {
		return rec, err
	}
	if err := h.Uploads.Complete(ctx, info, rec.SHA256, rec.URL); err != nil {
		return rec, err
	}
	return rec, nil
}

// Input is a complete upload waiting to be checked and published.
type Input struct {
	Source   uploadstore.DataSource // where the bytes are: a local file or an S3 object
	Open     func() (io.ReaderAt, func() error, error)
	Size     int64             // its length
	SHA256   [32]byte          // its hash, computed while it was written
	Meta     map[string]string // client metadata (filename, filetype, sha256)
	UploadID string            // tus upload id, if any
}

// Publish runs every image check on in and publishes it to the content store.
// A rejection is an *httperr.Error with a 4xx status (counted in metrics);
// the source is left to the caller then.
func (h *Hooks) Publish(ctx context.Context, in Input) (contentstore.Record, error) {
	start := time.Now()
	log := reqctx.From(ctx).Log
	res, err := h.check(ctx, in)
	if err != nil {
		e := httperr.As(err)
		if e.Status < 500 {
			h.Metrics.Rejected(e.Code)
			log.InfoContext(ctx, "upload.rejected", "upload_id", in.UploadID, "code", e.Code, "status", e.Status)
		}
		return contentstore.Record{}, e
	}
	sha := hex.EncodeToString(in.SHA256[:])
	rec := contentstore.Record{SHA256: sha, Size: in.Size, Type: res.Type, Ext: res.Ext, Width: res.Width,
		Height: res.Height, Frames: res.Frames, Filename: SanitizeFilename(metaValue(in.Meta, "filename", "name")),
		UploadedAt: time.Now().UTC(), UploadID: in.UploadID, URL: "/i/" + sha + "." + res.Ext}
	stored, deduped, err := h.store(ctx, in.Source, rec)
	if err != nil {
		return contentstore.Record{}, fmt.Errorf("hooks: publish %s: %w", sha, err)
	}
	h.Metrics.Published(stored.Ext, deduped, time.Since(start).Seconds())
	if log.Enabled(ctx, slog.LevelInfo) { // else the arguments would still be boxed
		log.InfoContext(ctx, "image.published", "sha256", sha, "upload_id", in.UploadID, "type", stored.Type,
			"size", stored.Size, "deduped", deduped)
	}
	return stored, nil
}

// store publishes the checked bytes from wherever they are.
func (h *Hooks) store(ctx context.Context, src uploadstore.DataSource, rec contentstore.Record) (contentstore.Record, bool, error) {
	if src.Key == "" {
		return h.Images.PublishFile(ctx, src.Path, rec)
	}
	op, ok := h.Images.(contentstore.ObjectPublisher)
	if !ok {
		return rec, false, errors.New("hooks: S3 uploads need an S3 image store")
	}
	return op.PublishObject(ctx, src.Bucket, src.Key, rec)
}

// FileInput describes a complete local file for Publish.
func FileInput(path string, size int64, sum [32]byte, meta map[string]string) Input {
	return Input{Source: uploadstore.DataSource{Path: path}, Size: size, SHA256: sum, Meta: meta,
		Open: func() (io.ReaderAt, func() error, error) {
			f, err := os.Open(path)
			if err != nil {
				return nil, nil, err
			}
			return f, f.Close, nil
		}}
}

func (h *Hooks) check(ctx context.Context, in Input) (imagecheck.Result, error) {
	r, closeFn, err := in.Open()
	if err != nil {
		return imagecheck.Result{}, fmt.Errorf("hooks: open upload: %w", err)
	}
	defer closeFn()
	res, err := h.Checker.Check(ctx, r, in.Size, meta(in.Meta))
	if err != nil {
		return res, err
	}
	if want := strings.ToLower(in.Meta["sha256"]); want != "" && want != hex.EncodeToString(in.SHA256[:]) {
		return res, httperr.New(460, "checksum_mismatch",
			"the uploaded bytes do not match the sha256 given in the metadata").
			WithDetail("expected", want).WithDetail("actual", hex.EncodeToString(in.SHA256[:]))
	}
	return res, nil
}

func meta(m map[string]string) imagecheck.Meta {
	return imagecheck.Meta{Filename: metaValue(m, "filename", "name"), DeclaredType: metaValue(m, "filetype", "type")}
}

func copyMeta(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
