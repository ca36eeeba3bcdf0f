package contentstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tusimg/tusimg/pkg/s3blob"
)

// drainLimit: when an Object's open GET has at most this many unread bytes
// at Close or Seek, they are read and dropped so the connection can be
// reused; a longer remainder closes the connection instead.
const drainLimit = 64 << 10

// s3Object is the Object returned by S3.Open. Seek only moves the position;
// Read opens one GET from the position to the end of the object when none is
// open there, and reads on from it. So http.ServeContent costs one GET for a
// full or single-range response and none for HEAD, 304 or 416. With a disk
// cache, the first sequential read of the whole object from its first byte
// also copies it to the cache.
type s3Object struct {
	ctx         context.Context
	client      *s3.Client
	bucket, key string
	sha         string
	size        int64
	mod         time.Time
	disk        *diskCache // nil: no disk cache
	fill        *cacheFill // copy to the disk cache in progress, or nil
	fillTried   bool

	pos     int64         // position of the next Read
	body    io.ReadCloser // open GET, or nil
	bodyPos int64         // position of body's next byte
}

func (o *s3Object) Size() int64        { return o.size }
func (o *s3Object) ModTime() time.Time { return o.mod }

// Read implements io.Reader.
func (o *s3Object) Read(p []byte) (int, error) {
	if o.pos >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body != nil && o.bodyPos != o.pos {
		o.closeBody()
	}
	if o.fill != nil && o.fill.n != o.pos { // not a sequential read from 0
		o.fill.abort()
		o.fill = nil
	}
	if o.disk != nil && !o.fillTried && o.pos == 0 {
		o.fillTried = true
		o.fill = o.disk.startFill(o.sha, o.size)
	}
	if o.body == nil {
		body, err := s3blob.OpenRange(o.ctx, o.client, o.bucket, o.key, o.pos, -1)
		if s3blob.IsNotFound(err) {
			return 0, fmt.Errorf("contentstore: bytes of %s missing: %w", o.key, ErrNotFound)
		}
		if err != nil {
			return 0, fmt.Errorf("contentstore: %w", err)
		}
		o.body, o.bodyPos = body, o.pos
	}
	n, err := o.body.Read(p[:min(int64(len(p)), o.size-o.pos)])
	o.pos += int64(n)
	o.bodyPos = o.pos
	if o.fill != nil && n > 0 && (!o.fill.write(p[:n]) || o.fill.n == o.size) {
		o.fill = nil // failed, or complete and in the cache
	}
	switch {
	case errors.Is(err, io.EOF) && o.pos < o.size:
		o.closeBody()
		return n, fmt.Errorf("contentstore: read %s: object ended at %d of %d bytes: %w",
			o.key, o.pos, o.size, io.ErrUnexpectedEOF)
	case errors.Is(err, io.EOF) || o.pos == o.size: // here o.pos == o.size
		o.closeBody()
		return n, io.EOF
	case err != nil:
		o.closeBody()
		return n, fmt.Errorf("contentstore: read %s: %w", o.key, err)
	}
	return n, nil
}

// Seek implements io.Seeker without I/O. Seeking past the end is allowed
// (Read then returns io.EOF); before the start is an error.
func (o *s3Object) Seek(offset int64, whence int) (int64, error) {
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = o.pos
	case io.SeekEnd:
		base = o.size
	default:
		return o.pos, fmt.Errorf("contentstore: seek %s: invalid whence %d", o.key, whence)
	}
	if base+offset < 0 {
		return o.pos, fmt.Errorf("contentstore: seek %s: negative position %d", o.key, base+offset)
	}
	o.pos = base + offset
	return o.pos, nil
}

// Close implements io.Closer; it releases the open GET, if any.
func (o *s3Object) Close() error {
	o.closeBody()
	if o.fill != nil {
		o.fill.abort()
		o.fill = nil
	}
	return nil
}

func (o *s3Object) closeBody() {
	if o.body == nil {
		return
	}
	if o.size-o.bodyPos <= drainLimit {
		_, _ = io.Copy(io.Discard, io.LimitReader(o.body, drainLimit+1))
	}
	_ = o.body.Close()
	o.body = nil
}
