package imagecheck

import (
	"encoding/binary"
	"io"
	"sync"
)

// windowSize is the size of the read-ahead window of a source. Structure
// walkers read small headers, so one window serves many of them.
const windowSize = 32 << 10

// hopWindow is what a source reads after hopping over a large chunk: a
// 1 GiB PNG in 256 KiB IDAT chunks is walked with 4096 reads of 1 KiB
// instead of 4096 reads of 32 KiB.
const hopWindow = 1 << 10

// source reads a complete upload of known size through an io.ReaderAt with a
// read-ahead window, so walking thousands of small chunks costs few ReadAt
// calls and skipping a large chunk costs none. Reading past size yields
// errTruncated; a failing or short ReaderAt yields a *readError.
type source struct {
	r    io.ReaderAt
	size int64
	buf  []byte // window contents
	off  int64  // offset of buf[0]
}

func newSource(r io.ReaderAt, size int64) *source {
	return &source{r: r, size: size}
}

// windows recycles full-size windows: every checked upload of 32 KiB or
// more needs one.
var windows = sync.Pool{New: func() any { b := make([]byte, windowSize); return &b }}

// release hands a full-size window back for reuse; s and every slice it
// returned must not be used afterwards.
func (s *source) release() {
	if cap(s.buf) == windowSize {
		b := s.buf[:windowSize]
		windows.Put(&b)
	}
	s.buf = nil
}

// at returns the n bytes (n <= windowSize) at off. The slice is valid until
// the next call.
func (s *source) at(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || n > windowSize || off > s.size || int64(n) > s.size-off {
		return nil, errTruncated
	}
	if off < s.off || off+int64(n) > s.off+int64(len(s.buf)) {
		want := windowSize
		if n <= hopWindow && off >= s.off+int64(len(s.buf))+windowSize {
			// A hop over a large chunk: the next one is likely far
			// too, so read just its header rather than a full window.
			want = hopWindow
		}
		if err := s.fill(off, want); err != nil {
			return nil, err
		}
	}
	i := off - s.off
	return s.buf[i : i+int64(n)], nil
}

// from returns the window's bytes from off on: at least one byte, unless off
// is at or past the end, which is errTruncated.
func (s *source) from(off int64) ([]byte, error) {
	if off < 0 || off >= s.size {
		return nil, errTruncated
	}
	if off < s.off || off >= s.off+int64(len(s.buf)) {
		if err := s.fill(off, windowSize); err != nil {
			return nil, err
		}
	}
	return s.buf[off-s.off:], nil
}

// fill loads the window starting at off, of up to want bytes.
func (s *source) fill(off int64, want int) error {
	n := int(min(int64(want), s.size-off))
	if cap(s.buf) < n {
		if s.size >= windowSize {
			s.buf = *windows.Get().(*[]byte)
		} else {
			s.buf = make([]byte, s.size)
		}
	}
	s.buf = s.buf[:n]
	m, err := s.r.ReadAt(s.buf, off)
	if m < n {
		s.buf = s.buf[:0]
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return &readError{err: err}
	}
	s.off = off
	return nil
}

func (s *source) byteAt(off int64) (byte, error) {
	b, err := s.at(off, 1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (s *source) be16(off int64) (int, error) {
	b, err := s.at(off, 2)
	if err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint16(b)), nil
}
