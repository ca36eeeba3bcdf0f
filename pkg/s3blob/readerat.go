package s3blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Defaults of ReaderAtOptions.
const (
	DefaultBlockSize = 1 << 20 // 1 MiB
	DefaultBlocks    = 4
)

// OpenRange starts a GET of n bytes of bucket/key from offset off (n < 0:
// to the end of the object) and returns the streaming body, which the caller
// must close. n == 0 does no I/O. A missing object yields an error for which
// IsNotFound is true.
func OpenRange(ctx context.Context, client *s3.Client, bucket, key string, off, n int64,
	optFns ...func(*s3.Options)) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("s3blob: get %s: negative offset %d", key, off)
	}
	if n == 0 {
		return io.NopCloser(eofReader{}), nil
	}
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if off > 0 || n > 0 {
		in.Range = aws.String(RangeHeader(off, n))
	}
	out, err := client.GetObject(ctx, in, optFns...)
	if err != nil {
		return nil, fmt.Errorf("s3blob: get %s: %w", key, err)
	}
	return out.Body, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// ReaderAtOptions tunes a ReaderAt; zero fields take the defaults.
type ReaderAtOptions struct {
	// BlockSize is the size of one ranged GET and one cache entry
	// (default 1 MiB).
	BlockSize int64
	// Blocks is how many blocks are cached, least recently used evicted
	// (default 4).
	Blocks int
}

// ReaderAt is an io.ReaderAt over an S3 object of known size. It reads in
// aligned blocks with ranged GETs and keeps the last few blocks, so that many
// small reads (image headers) and a sequential scan (a full decode) cost one
// request per block, not one per read. A single read spanning at least two
// whole blocks bypasses the cache with one GET.
//
// A ReaderAt is safe for concurrent use; concurrent misses on the same block
// may fetch it twice. It assumes the object does not change while it is read
// (content-addressed objects never do). Its context, given to NewReaderAt,
// bounds every request: the io.ReaderAt interface has no other way to carry
// one.
type ReaderAt struct {
	ctx         context.Context
	client      *s3.Client
	bucket, key string
	size        int64
	block       int64
	max         int
	requests    atomic.Int64

	mu     sync.Mutex
	blocks []cachedBlock // most recently used first; len <= max
}

type cachedBlock struct {
	index int64
	data  []byte
}

// NewReaderAt returns a ReaderAt over the size bytes of bucket/key. ctx
// bounds every request the ReaderAt makes.
func NewReaderAt(ctx context.Context, client *s3.Client, bucket, key string, size int64,
	o ReaderAtOptions) *ReaderAt {
	if o.BlockSize <= 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.Blocks <= 0 {
		o.Blocks = DefaultBlocks
	}
	return &ReaderAt{ctx: ctx, client: client, bucket: bucket, key: key, size: size,
		block: o.BlockSize, max: o.Blocks}
}

// Size returns the object's size as given to NewReaderAt.
func (r *ReaderAt) Size() int64 { return r.size }

// Requests returns how many GETs the ReaderAt has issued.
func (r *ReaderAt) Requests() int64 { return r.requests.Load() }

// ReadAt implements io.ReaderAt: it returns io.EOF when fewer than len(p)
// bytes remain after off.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("s3blob: read %s: negative offset %d", r.key, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), r.size-off)]
	var err error
	if int64(len(want)) >= 2*r.block {
		err = r.fetch(want, off)
	} else {
		err = r.readBlocks(want, off)
	}
	if err != nil {
		return 0, err
	}
	if len(want) < len(p) {
		return len(want), io.EOF
	}
	return len(want), nil
}

// readBlocks fills p from cached or freshly fetched blocks.
func (r *ReaderAt) readBlocks(p []byte, off int64) error {
	for len(p) > 0 {
		bi := off / r.block
		data, err := r.blockData(bi)
		if err != nil {
			return err
		}
		n := copy(p, data[off-bi*r.block:])
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// blockData returns block bi, from the cache or with one GET.
func (r *ReaderAt) blockData(bi int64) ([]byte, error) {
	r.mu.Lock()
	for i, b := range r.blocks {
		if b.index == bi {
			copy(r.blocks[1:i+1], r.blocks[:i]) // move to front
			r.blocks[0] = b
			r.mu.Unlock()
			return b.data, nil
		}
	}
	r.mu.Unlock()

	start := bi * r.block
	data := make([]byte, min(r.block, r.size-start))
	if err := r.fetch(data, start); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.blocks) < r.max {
		r.blocks = append(r.blocks, cachedBlock{})
	}
	copy(r.blocks[1:], r.blocks[:len(r.blocks)-1])
	r.blocks[0] = cachedBlock{index: bi, data: data}
	return data, nil
}

// fetch fills p with one ranged GET from off.
func (r *ReaderAt) fetch(p []byte, off int64) error {
	r.requests.Add(1)
	body, err := OpenRange(r.ctx, r.client, r.bucket, r.key, off, int64(len(p)))
	if err != nil {
		return err
	}
	defer body.Close()
	if _, err := io.ReadFull(body, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("s3blob: read %s at %d: object shorter than %d bytes: %w",
				r.key, off, r.size, io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("s3blob: read %s at %d: %w", r.key, off, err)
	}
	return nil
}
