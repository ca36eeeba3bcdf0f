package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const (
	tusVersion    = "1.0.0"
	offsetType    = "application/offset+octet-stream"
	maxErrorBody  = 200 // bytes of an error response kept in the message
	textKeyword   = "tusimg-bench"
	defaultFiles  = "/files/"
	defaultImages = "/i/"
)

// client speaks tus 1.0 (core + creation, creation-with-upload) to one
// server over a transport tuned for many concurrent connections to it.
type client struct {
	hc    *http.Client
	base  *url.URL
	files *url.URL // creation endpoint
}

func newClient(o Options) (*client, error) {
	base, err := url.Parse(o.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("bench: --url %q: want http://host:port", o.URL)
	}
	files, err := base.Parse(o.FilesPath)
	if err != nil {
		return nil, fmt.Errorf("bench: files path %q: %w", o.FilesPath, err)
	}
	conc := max(o.Concurrency, 1)
	tr := &http.Transport{
		Proxy:               nil, // never a proxy: measure the server, not the path to it
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * conc,
		MaxIdleConnsPerHost: conc,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	hc := &http.Client{Transport: tr, Timeout: o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &client{hc: hc, base: base, files: files}, nil
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// answer is what a tus request answered that the bench cares about.
type answer struct {
	location string
	offset   int64
	imageURL string
	imageSHA string
}

// do sends req, checks for status want, reads (a bounded part of) the body
// and closes it, so the connection is reused.
func (c *client) do(req *http.Request, want int) (answer, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{}, &requestError{method: req.Method, err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if err := statusOf(resp, want, body); err != nil {
		return answer{}, err
	}
	a := answer{imageURL: resp.Header.Get("Image-Url"), imageSHA: resp.Header.Get("Image-Sha256")}
	if loc := resp.Header.Get("Location"); loc != "" {
		u, err := c.files.Parse(loc)
		if err != nil {
			return answer{}, &requestError{method: req.Method, err: fmt.Errorf("bad Location %q", loc)}
		}
		a.location = u.String()
	}
	if s := resp.Header.Get("Upload-Offset"); s != "" {
		if a.offset, err = strconv.ParseInt(s, 10, 64); err != nil {
			return answer{}, &requestError{method: req.Method, err: fmt.Errorf("bad Upload-Offset %q", s)}
		}
	}
	return a, nil
}

// create sends the tus creation POST for an upload of length bytes named
// name. With body non-nil (creation-with-upload) the first bytes go with
// it; bodyLen is their number.
func (c *client) create(ctx context.Context, length int64, name string, body io.Reader, bodyLen int64) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.files.String(), body)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Tus-Resumable", tusVersion)
	req.Header.Set("Upload-Length", strconv.FormatInt(length, 10))
	req.Header.Set("Upload-Metadata", "filename "+b64(name)+",filetype "+b64("image/png"))
	if body != nil {
		req.Header.Set("Content-Type", offsetType)
		req.ContentLength = bodyLen
	}
	a, err := c.do(req, http.StatusCreated)
	if err == nil && a.location == "" {
		err = &requestError{method: http.MethodPost, err: errors.New("201 without Location")}
	}
	return a, err
}

// patch sends n bytes of body at offset and checks the server took them all.
func (c *client) patch(ctx context.Context, loc string, offset int64, body io.Reader, n int64) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, loc, body)
	if err != nil {
		return answer{}, err
	}
	req.ContentLength = n
	req.Header.Set("Tus-Resumable", tusVersion)
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.Header.Set("Content-Type", offsetType)
	a, err := c.do(req, http.StatusNoContent)
	if err == nil && a.offset != offset+n {
		err = &requestError{method: http.MethodPatch,
			err: fmt.Errorf("Upload-Offset %d after PATCH, want %d", a.offset, offset+n)}
	}
	return a, err
}

// upload sends img as one upload: POST then PATCH, or POST with the bytes
// (creation-with-upload) and a PATCH for whatever the server did not take.
// The answer is the final response's.
func (c *client) upload(ctx context.Context, img []byte, name string, withUpload bool) (answer, error) {
	n := int64(len(img))
	if !withUpload {
		a, err := c.create(ctx, n, name, nil, 0)
		if err != nil {
			return a, err
		}
		return c.patch(ctx, a.location, 0, bytes.NewReader(img), n)
	}
	a, err := c.create(ctx, n, name, bytes.NewReader(img), n)
	if err != nil || a.offset == n {
		return a, err
	}
	if a.offset < 0 || a.offset > n {
		return a, &requestError{method: http.MethodPost, err: fmt.Errorf("Upload-Offset %d of %d", a.offset, n)}
	}
	return c.patch(ctx, a.location, a.offset, bytes.NewReader(img[a.offset:]), n-a.offset)
}

// image sends method to u, with If-None-Match: etag unless etag is empty,
// checks for status want and reads the whole body, returning its length.
func (c *client) image(ctx context.Context, u, method, etag string, want int) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return 0, err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, &requestError{method: method, err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return 0, statusOf(resp, want, body)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, &requestError{method: method, err: err}
	}
	if method == http.MethodGet && resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, &requestError{method: method, err: fmt.Errorf("body %d bytes, Content-Length %d", n, resp.ContentLength)}
	}
	return n, nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
