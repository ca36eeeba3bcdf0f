package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"hash"
	"mime"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/tusimg/tusimg/pkg/contentstore"
	"github.com/tusimg/tusimg/pkg/httperr"
	"github.com/tusimg/tusimg/pkg/imagecheck"
	"github.com/tusimg/tusimg/pkg/reqctx"
	"github.com/tusimg/tusimg/pkg/uploadstore"
)

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// fail writes err as a JSON error; internal causes are logged, never sent.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	e := httperr.As(err)
	info := reqctx.From(r.Context())
	if e.Status >= 500 {
		info.Log.ErrorContext(r.Context(), "http.internal_error", "code", e.Code, "error", err)
	}
	httperr.Write(w, r, e, info.ID)
}

var errNotFound = httperr.New(http.StatusNotFound, "not_found", "no such image")

func (s *Server) getImage(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	if !contentstore.ValidSHA256(sha) {
		fail(w, r, httperr.New(http.StatusBadRequest, "bad_hash", "image id must be 64 lowercase hexadecimal characters"))
		return
	}
	rec, err := s.images.Get(r.Context(), sha)
	if errors.Is(err, contentstore.ErrNotFound) {
		fail(w, r, errNotFound)
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// imageList is the body of GET /api/v1/images.
type imageList struct {
	Images []contentstore.Record `json:"images"`
	Next   string                `json:"next,omitempty"` // pass as ?before= for the next page
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			fail(w, r, httperr.New(http.StatusBadRequest, "bad_limit", "limit must be a whole number from 1 to 100"))
			return
		}
		limit = n
	}
	before := q.Get("before")
	if before != "" && !contentstore.ValidSHA256(before) {
		fail(w, r, httperr.New(http.StatusBadRequest, "bad_hash", "before must be an image sha256 (64 lowercase hex)"))
		return
	}
	recs, err := s.images.List(r.Context(), before, limit)
	if err != nil {
		fail(w, r, err)
		return
	}
	out := imageList{Images: recs}
	if out.Images == nil {
		out.Images = []contentstore.Record{}
	}
	if len(recs) == limit {
		out.Next = recs[len(recs)-1].SHA256
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) uploadStatus(w http.ResponseWriter, r *http.Request) {
	if err := s.ownUpload(r, r.PathValue("id")); err != nil {
		fail(w, r, err)
		return
	}
	st, err := s.uploads.Status(r.Context(), r.PathValue("id"))
	if errors.Is(err, uploadstore.ErrUnknown) {
		fail(w, r, httperr.New(http.StatusNotFound, "not_found", "no such upload"))
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	if st.URL != "" {
		st.URL = reqctx.From(r.Context()).BaseURL + st.URL
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, st)
}

// PublicConfig is the part of the policy clients may mirror (GET /api/v1/config).
type PublicConfig struct {
	MaxSize           int64    `json:"max_size"`
	AllowedTypes      []string `json:"allowed_types"`
	AllowedExtensions []string `json:"allowed_extensions"`
	MaxWidth          int      `json:"max_width"`
	MaxHeight         int      `json:"max_height"`
	MaxPixels         int64    `json:"max_pixels"`
	UploadTTLSeconds  int64    `json:"upload_ttl_seconds"`
	TusEndpoint       string   `json:"tus_endpoint"`
}

func (s *Server) publicConfig(w http.ResponseWriter, r *http.Request) {
	p := s.checker.Policy()
	var exts []string
	for _, t := range p.AllowedTypes {
		exts = append(exts, extensionsFor(t)...)
	}
	writeJSON(w, http.StatusOK, PublicConfig{MaxSize: p.MaxSize, AllowedTypes: p.AllowedTypes, AllowedExtensions: exts,
		MaxWidth: p.MaxWidth, MaxHeight: p.MaxHeight, MaxPixels: p.MaxPixels,
		UploadTTLSeconds: int64(s.cfg.UploadTTL / time.Second), TusEndpoint: "/files/"})
}

func extensionsFor(mimeType string) []string {
	var out []string
	for _, e := range []string{"jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp"} {
		if t, ok := imagecheck.TypeForExt(e); ok && t == mimeType {
			out = append(out, "."+e)
		}
	}
	return out
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.readyErr(ctx); err != nil {
		fail(w, r, httperr.New(http.StatusServiceUnavailable, "not_ready", "a store is not usable").WithCause(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// hashingFile writes to a temp file and hashes what it writes.
type hashingFile struct {
	f *os.File
	h hash.Hash
}

func newHashingFile(dir string) (*hashingFile, error) {
	f, err := os.CreateTemp(dir, "oneshot-*")
	if err != nil {
		return nil, err
	}
	return &hashingFile{f: f, h: sha256.New()}, nil
}

func (hf *hashingFile) Write(p []byte) (int, error) {
	hf.h.Write(p)
	return hf.f.Write(p)
}

func (hf *hashingFile) sum() (out [32]byte) {
	copy(out[:], hf.h.Sum(nil))
	return out
}

// declaredType returns a client-declared media type, ignoring the generic
// ones that say nothing.
func declaredType(ct string) string {
	t, _, err := mime.ParseMediaType(ct)
	if err != nil || t == "application/octet-stream" || t == "multipart/form-data" {
		return ""
	}
	return t
}
