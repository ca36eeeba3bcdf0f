package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"

	"github.com/tusimg/tusimg/pkg/contentstore"
)

// lazyObject is the io.ReadSeeker handed to http.ServeContent. It knows the
// image's size from its record and opens the bytes only when ServeContent
// is about to send them (see bodyWriter), so HEAD, 304, 412 and 416 answers
// never touch storage. ServeContent may read it from a second goroutine
// (multipart ranges), hence the lock.
type lazyObject struct {
	// The request's store, context and hash, for the one Open: kept here
	// rather than in a closure, which would cost an allocation per GET.
	store contentstore.Store
	ctx   context.Context
	sha   string
	size  int64

	mu  sync.Mutex
	pos int64 // position while not open
	obj contentstore.Object
	err error // the failed open
}

// errSizeMismatch reports bytes whose length is not the record's.
var errSizeMismatch = errors.New("serve: stored bytes differ in size from their record")

// ensureOpen opens the bytes (once) and moves them to the position the
// reader was given so far. Bytes of another size than the record says are
// an error: a half image is never served under its hash.
func (o *lazyObject) ensureOpen() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.openLocked()
}

func (o *lazyObject) openLocked() error {
	if o.obj != nil || o.err != nil {
		return o.err
	}
	obj, err := o.store.Open(o.ctx, o.sha)
	if err == nil && obj.Size() != o.size {
		err = fmt.Errorf("%w: %d bytes, record says %d", errSizeMismatch, obj.Size(), o.size)
		_ = obj.Close()
	}
	if err == nil && o.pos != 0 {
		if _, err = obj.Seek(o.pos, io.SeekStart); err != nil {
			_ = obj.Close()
		}
	}
	if err != nil {
		o.err = err
		return err
	}
	o.obj = obj
	return nil
}

func (o *lazyObject) Read(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.openLocked(); err != nil {
		return 0, err
	}
	return o.obj.Read(p)
}

func (o *lazyObject) Seek(offset int64, whence int) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.obj != nil {
		return o.obj.Seek(offset, whence)
	}
	pos := offset
	switch whence {
	case io.SeekCurrent:
		pos += o.pos
	case io.SeekEnd:
		pos += o.size
	case io.SeekStart:
	default:
		return 0, errors.New("serve: invalid whence")
	}
	if pos < 0 {
		return 0, errors.New("serve: negative position")
	}
	o.pos = pos
	return pos, nil
}

// SyscallConn exposes the open file's descriptor, which is what net's
// sendfile path looks for (see TestSendfilePathPreserved); objects without
// one are copied.
func (o *lazyObject) SyscallConn() (syscall.RawConn, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.openLocked(); err != nil {
		return nil, err
	}
	if sc, ok := o.obj.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

func (o *lazyObject) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.obj == nil {
		return nil
	}
	return o.obj.Close()
}

// bodyWriter counts body bytes written through it, and opens the image
// when ServeContent announces a body (200 or 206 to a GET): if that fails
// the answer becomes the handler's JSON error (404, or 500 with the cause
// logged), as if the open had come first, and the body is dropped. It
// forwards ReadFrom so that ServeContent's io.CopyN still reaches the
// connection's ReadFrom and the kernel's sendfile path; Unwrap lets
// http.ResponseController reach the original writer.
type bodyWriter struct {
	http.ResponseWriter
	h      *Handler
	r      *http.Request
	obj    *lazyObject
	n      int64
	failed bool
}

// errDropped is what the body writes get after a failed open.
var errDropped = errors.New("serve: image could not be opened; body dropped")

// imageHeaders are the headers setHeaders and ServeContent set before the
// status is written; an error answer must carry none of them.
var imageHeaders = []string{"Content-Type", "Content-Disposition", "Etag", "Cache-Control", "X-Content-Type-Options",
	"Content-Security-Policy", "Cross-Origin-Resource-Policy", "Last-Modified", "Accept-Ranges", "Content-Length",
	"Content-Range"}

func (b *bodyWriter) WriteHeader(code int) {
	body := (code == http.StatusOK || code == http.StatusPartialContent) && b.r.Method != http.MethodHead
	if body {
		if err := b.obj.ensureOpen(); err != nil {
			b.failed = true
			hd := b.Header()
			for _, k := range imageHeaders {
				delete(hd, k)
			}
			b.h.fail(b.ResponseWriter, b.r, storeError(err))
			return
		}
	}
	b.ResponseWriter.WriteHeader(code)
	if body {
		// Send the header now: net/http copies the first 512 bytes of a
		// body whose header is not out yet through a buffer (one read
		// system call and a copy) before it hands the rest to sendfile.
		if f, ok := b.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		} else {
			_ = http.NewResponseController(b.ResponseWriter).Flush()
		}
	}
}

func (b *bodyWriter) Write(p []byte) (int, error) {
	if b.failed {
		return 0, errDropped
	}
	n, err := b.ResponseWriter.Write(p)
	b.n += int64(n)
	return n, err
}

func (b *bodyWriter) ReadFrom(src io.Reader) (int64, error) {
	if b.failed {
		return 0, errDropped
	}
	if rf, ok := b.ResponseWriter.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(src)
		b.n += n
		return n, err
	}
	return io.Copy(struct{ io.Writer }{b}, src) // Write counts
}

func (b *bodyWriter) Unwrap() http.ResponseWriter { return b.ResponseWriter }
