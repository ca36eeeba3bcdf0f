package uploadstore

import (
	"bytes"
	"sync"
)

// A small upload that arrives whole in one chunk is also kept in memory as
// it streams (its body is read straight into the buffer, which is then
// written to the file and hashed from there), so that the check after its
// last byte reads no file: reading it back cost a system call and a copy from
// the page cache (about 16 us for 200 KiB on tmpfs, a ranged GET on S3).
// At most captureSlots uploads are held at once (16 MiB), so slow clients
// cannot make it cost memory; past that, uploads are read back as before.
const (
	captureMax   = 256 << 10
	captureSlots = 64
)

var (
	captureSem  = make(chan struct{}, captureSlots)
	captureBufs = sync.Pool{New: func() any { b := make([]byte, 0, captureMax); return &b }}
)

// startCapture returns an empty buffer for an upload of size bytes, or nil
// when the upload is too large or all slots are taken.
func startCapture(size int64) *[]byte {
	if size <= 0 || size > captureMax {
		return nil
	}
	select {
	case captureSem <- struct{}{}:
	default:
		return nil
	}
	b := captureBufs.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

// releaseCapture gives a buffer from startCapture back (nil is ignored).
func releaseCapture(b *[]byte) {
	if b != nil {
		captureBufs.Put(b)
		<-captureSem
	}
}

// keepCapture hands the captured bytes of finished upload id to OpenData.
func (s *Store) keepCapture(id string, b *[]byte) {
	s.mu.Lock()
	old := s.captured[id]
	s.captured[id] = b
	s.mu.Unlock()
	releaseCapture(old)
}

func (s *Store) takeCapture(id string) *[]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.captured[id]
	delete(s.captured, id)
	return b
}

// capturedData serves captured bytes; Bytes lets a reader that wants them
// whole (imagecheck) skip its own copy.
type capturedData struct {
	bytes.Reader
	b []byte
}

func newCapturedData(b []byte) *capturedData {
	c := &capturedData{b: b}
	c.Reset(b)
	return c
}

// Bytes returns all the data.
func (c *capturedData) Bytes() []byte { return c.b }
