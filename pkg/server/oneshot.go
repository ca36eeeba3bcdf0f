package server

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tusimg/tusimg/hooks"
	"github.com/tusimg/tusimg/pkg/httperr"
	"github.com/tusimg/tusimg/pkg/imagecheck"
	"github.com/tusimg/tusimg/pkg/reqctx"
)

// postImage is the one-shot upload (POST /api/v1/images): a multipart form
// with a "file" field, or the raw image as the body (file name from
// ?filename= or Content-Disposition). The body is streamed to a temp file
// while hashed, never held in memory, then goes through the same checks and
// publish as a tus upload. 201 with the image record; Location is its URL.
func (s *Server) postImage(w http.ResponseWriter, r *http.Request) {
	max := s.checker.Policy().MaxSize
	if r.ContentLength > max+64<<10 { // room for multipart framing
		fail(w, r, httperr.Newf(http.StatusRequestEntityTooLarge, "too_large",
			"request body is %d bytes, more than the limit of %d bytes", r.ContentLength, max).WithDetail("limit", max))
		return
	}
	body, meta, err := s.oneshotBody(w, r)
	if err != nil {
		fail(w, r, err)
		return
	}
	if err := s.checker.CheckDeclared(imagecheck.Meta{Filename: meta["filename"], DeclaredType: meta["filetype"]}); err != nil {
		s.metrics.Rejected(httperr.As(err).Code)
		fail(w, r, err)
		return
	}
	hf, err := newHashingFile(s.tmpDir)
	if err != nil {
		fail(w, r, err)
		return
	}
	defer os.Remove(hf.f.Name()) // no-op once published (moved)
	n, err := io.Copy(hf, io.LimitReader(body, max+1))
	if cerr := hf.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fail(w, r, bodyError(err))
		return
	}
	if n > max {
		s.metrics.Rejected("too_large")
		fail(w, r, httperr.Newf(http.StatusRequestEntityTooLarge, "too_large",
			"image is more than the limit of %d bytes", max).WithDetail("limit", max))
		return
	}
	rec, err := s.hooks.Publish(r.Context(), hooks.FileInput(hf.f.Name(), n, hf.sum(), meta))
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("Location", reqctx.From(r.Context()).BaseURL+rec.URL)
	w.Header().Set("Image-Sha256", rec.SHA256)
	w.Header().Set("Image-Url", reqctx.From(r.Context()).BaseURL+rec.URL)
	writeJSON(w, http.StatusCreated, rec)
}

// oneshotBody finds the image bytes and the client's metadata in r.
func (s *Server) oneshotBody(w http.ResponseWriter, r *http.Request) (io.Reader, map[string]string, error) {
	r.Body = &progressReader{r: r.Body, rc: http.NewResponseController(w), timeout: s.cfg.NetworkTimeout}
	body := io.Reader(r.Body)
	meta := map[string]string{}
	if sum := r.URL.Query().Get("sha256"); sum != "" {
		meta["sha256"] = strings.ToLower(sum)
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		meta["filename"] = hooks.SanitizeFilename(r.URL.Query().Get("filename"))
		if meta["filename"] == "" {
			meta["filename"] = hooks.SanitizeFilename(dispositionName(r.Header.Get("Content-Disposition")))
		}
		meta["filetype"] = declaredType(r.Header.Get("Content-Type"))
		return body, meta, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, httperr.New(http.StatusBadRequest, "bad_form", "malformed multipart form")
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, nil, httperr.New(http.StatusBadRequest, "missing_file", `the form has no "file" field`)
		}
		if err != nil {
			return nil, nil, httperr.New(http.StatusBadRequest, "bad_form", "malformed multipart form")
		}
		if part.FormName() == "file" {
			meta["filename"] = hooks.SanitizeFilename(part.FileName())
			meta["filetype"] = declaredType(part.Header.Get("Content-Type"))
			return part, meta, nil
		}
		part.Close()
	}
}

func dispositionName(cd string) string {
	if cd == "" {
		return ""
	}
	_, params, err := mime.ParseMediaType(cd)
	if err != nil {
		return ""
	}
	return params["filename"]
}

// bodyError maps a failed body read to a client error; disk errors stay 5xx.
func bodyError(err error) error {
	var e *httperr.Error
	if errors.As(err, &e) {
		return e
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err
	}
	return httperr.New(http.StatusBadRequest, "bad_body", "the request body could not be read completely").WithCause(err)
}

// progressReader bounds each body read by a deadline that moves with progress,
// like tusd's NetworkTimeout: slow but moving clients are never cut.
type progressReader struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
}

func (p *progressReader) Read(b []byte) (int, error) {
	_ = p.rc.SetReadDeadline(time.Now().Add(p.timeout))
	return p.r.Read(b)
}

func (p *progressReader) Close() error { return p.r.Close() }
