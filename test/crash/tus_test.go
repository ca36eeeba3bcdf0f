package crash_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A raw tus 1.0 client: just enough to create, inspect and patch uploads
// with full control over the request bodies.

// tusResp is what a tus request answered.
type tusResp struct {
	Status   int
	Offset   int64 // Upload-Offset, -1 if absent
	Header   http.Header
	Body     string
	Location string
}

func (r tusResp) imageSHA() string { return r.Header.Get("Image-Sha256") }

func (r tusResp) String() string {
	return fmt.Sprintf("%d offset=%d image=%q body=%s", r.Status, r.Offset, r.imageSHA(), trunc([]byte(r.Body)))
}

func readTusResp(resp *http.Response) tusResp {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := tusResp{Status: resp.StatusCode, Offset: -1, Header: resp.Header, Body: string(b), Location: resp.Header.Get("Location")}
	if v := resp.Header.Get("Upload-Offset"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			r.Offset = n
		}
	}
	return r
}

func encodeMeta(meta map[string]string) string {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+" "+base64.StdEncoding.EncodeToString([]byte(meta[k])))
	}
	return strings.Join(parts, ",")
}

// create POSTs a new upload of length bytes; body, if not nil, is sent with
// it (creation-with-upload). It returns the upload id and the answer.
func (p *proc) create(ctx context.Context, length int64, meta map[string]string, body []byte) (string, tusResp, error) {
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"/files/", rd)
	if err != nil {
		return "", tusResp{}, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(length, 10))
	if len(meta) > 0 {
		req.Header.Set("Upload-Metadata", encodeMeta(meta))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.ContentLength = int64(len(body))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return "", tusResp{}, err
	}
	r := readTusResp(resp)
	if r.Status != http.StatusCreated {
		return "", r, fmt.Errorf("POST /files/: %s", r)
	}
	id := path.Base(r.Location)
	if len(id) != 32 {
		return "", r, fmt.Errorf("POST /files/: odd Location %q", r.Location)
	}
	return id, r, nil
}

// mustCreate is create that fails the test on error.
func (p *proc) mustCreate(length int64, meta map[string]string, body []byte) (string, tusResp) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, r, err := p.create(ctx, length, meta, body)
	if err != nil {
		p.t.Fatalf("create: %v", err)
	}
	return id, r
}

// head asks for an upload's state.
func (p *proc) head(id string) tusResp {
	p.t.Helper()
	r, err := p.tryHead(id)
	if err != nil {
		p.t.Fatalf("HEAD %s: %v", id, err)
	}
	return r
}

func (p *proc) tryHead(id string) (tusResp, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, p.URL+"/files/"+id, nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	resp, err := p.client.Do(req)
	if err != nil {
		return tusResp{}, err
	}
	return readTusResp(resp), nil
}

// patch sends body (n bytes) at offset. The body may be slow or stop; ctx
// bounds the whole request.
func (p *proc) patch(ctx context.Context, id string, offset int64, body io.Reader, n int64) (tusResp, error) {
	return patchWith(ctx, p.client, p.URL, id, offset, body, n)
}

func patchWith(ctx context.Context, c *http.Client, base, id string, offset int64, body io.Reader, n int64) (tusResp, error) {
	if n == 0 {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, base+"/files/"+id, body)
	if err != nil {
		return tusResp{}, err
	}
	req.ContentLength = n
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err := c.Do(req)
	if err != nil {
		return tusResp{}, err
	}
	return readTusResp(resp), nil
}

// mustPatch sends data at offset in one go and fails the test on a transport
// error.
func (p *proc) mustPatch(id string, offset int64, data []byte) tusResp {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := p.patch(ctx, id, offset, strings.NewReader(string(data)), int64(len(data)))
	if err != nil {
		p.t.Fatalf("PATCH %s at %d (%d bytes): %v", id, offset, len(data), err)
	}
	return r
}

// slowBody is a PATCH body that hands out chunk bytes every delay. Sent
// counts what it handed to the transport (an upper bound of what the server
// got). Stop makes the next Read fail, as if the client died.
type slowBody struct {
	data  []byte
	pos   int
	chunk int
	delay time.Duration

	sent    atomic.Int64
	stopped atomic.Bool
	// pauseAt, when > 0, makes Read block once pos reaches it until resume
	// is closed (or Stop).
	pauseAt  int
	resume   chan struct{}
	stopCh   chan struct{}
	stopOnce sync.Once
	reached  chan struct{} // closed when pauseAt is reached
}

func newSlowBody(data []byte, chunk int, delay time.Duration) *slowBody {
	return &slowBody{data: data, chunk: chunk, delay: delay, resume: make(chan struct{}),
		stopCh: make(chan struct{}), reached: make(chan struct{})}
}

var errClientStopped = errors.New("client stopped")

func (b *slowBody) Stop() { b.stopOnce.Do(func() { b.stopped.Store(true); close(b.stopCh) }) }

func (b *slowBody) Read(p []byte) (int, error) {
	if b.stopped.Load() {
		return 0, errClientStopped
	}
	if b.pos >= len(b.data) {
		return 0, io.EOF
	}
	if b.pauseAt > 0 && b.pos >= b.pauseAt {
		select {
		case <-b.reached:
		default:
			close(b.reached)
		}
		select {
		case <-b.resume:
			b.pauseAt = 0
		case <-b.stopCh:
			return 0, errClientStopped
		}
	}
	if b.pos > 0 && b.delay > 0 {
		select {
		case <-time.After(b.delay):
		case <-b.stopCh:
			return 0, errClientStopped
		}
	}
	n := min(len(p), b.chunk, len(b.data)-b.pos)
	if b.pauseAt > 0 {
		n = min(n, b.pauseAt-b.pos)
	}
	copy(p, b.data[b.pos:b.pos+n])
	b.pos += n
	b.sent.Add(int64(n))
	return n, nil
}
