package uploadstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/tus/tusd/v2/pkg/handler"
)

// TestCaptureSmallUpload checks that a small upload sent in one chunk is
// handed to the check from memory, once, with the same bytes as the file,
// that an upload in several chunks is read from its file, and that no
// capture slot stays taken.
func TestCaptureSmallUpload(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, acceptAll)
	ctx := context.Background()
	data := bytes.Repeat([]byte("capture!"), 20<<10) // 160 KiB
	for _, chunks := range []int{1, 2} {
		up, err := s.NewUpload(ctx, handler.FileInfo{Size: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		info, _ := up.GetInfo(ctx)
		half := len(data) / chunks
		for off := 0; off < len(data); off += half {
			if _, err := writeReq(ctx, t, s, info.ID, int64(off), data[off:off+half]); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 {
			r, closeFn, err := s.OpenData(ctx, info.ID, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			_, inMemory := r.(interface{ Bytes() []byte })
			if want := chunks == 1 && i == 0; inMemory != want {
				t.Errorf("%d chunk(s), open %d: in memory %v, want %v", chunks, i+1, inMemory, want)
			}
			got := make([]byte, len(data))
			if n, err := r.ReadAt(got, 0); n != len(data) || (err != nil && err != io.EOF) || !bytes.Equal(got, data) {
				t.Errorf("%d chunk(s), open %d: read %d bytes (%v), equal %v", chunks, i+1, n, err, bytes.Equal(got, data))
			}
			_ = closeFn()
		}
		if err := s.Discard(ctx, info.ID); err != nil {
			t.Fatal(err)
		}
	}
	// A capture that was never opened is released with its session.
	up, _ := s.NewUpload(ctx, handler.FileInfo{Size: int64(len(data))})
	info, _ := up.GetInfo(ctx)
	if _, err := writeReq(ctx, t, s, info.ID, 0, data); err != nil {
		t.Fatal(err)
	}
	if len(captureSem) != 1 {
		t.Errorf("%d capture slots taken, want 1 (the finished upload's)", len(captureSem))
	}
	if err := s.Discard(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	if len(captureSem) != 0 {
		t.Errorf("%d capture slots still taken", len(captureSem))
	}
}

// TestCaptureCloseTwice checks that closing captured data twice gives its
// slot back once, not a slot another upload holds.
func TestCaptureCloseTwice(t *testing.T) {
	s := openStore(t, t.TempDir(), acceptAll)
	ctx := context.Background()
	data := bytes.Repeat([]byte("twice"), 1000)
	up, _ := s.NewUpload(ctx, handler.FileInfo{Size: int64(len(data))})
	info, _ := up.GetInfo(ctx)
	if _, err := writeReq(ctx, t, s, info.ID, 0, data); err != nil {
		t.Fatal(err)
	}
	other := startCapture(10) // another upload's slot
	defer releaseCapture(other)
	_, closeFn, err := s.OpenData(ctx, info.ID, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	_ = closeFn()
	_ = closeFn()
	if len(captureSem) != 1 {
		t.Fatalf("%d capture slots taken after closing twice, want 1 (the other upload's)", len(captureSem))
	}
}

// piecesReader returns at most max bytes a read.
type piecesReader struct {
	r   io.Reader
	max int
}

func (p *piecesReader) Read(b []byte) (int, error) { return p.r.Read(b[:min(len(b), p.max)]) }

// TestCaptureReadInPlace: the body of a captured upload is read straight
// into the capture; arriving in odd pieces, it is captured, stored and
// hashed exactly.
func TestCaptureReadInPlace(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, acceptAll)
	ctx := context.Background()
	data := make([]byte, 200<<10+123)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(data)
	up, err := s.NewUpload(ctx, handler.FileInfo{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := up.GetInfo(ctx)
	rctx, _, _ := WithRequest(ctx, int64(len(data)))
	if up, err = s.GetUpload(rctx, info.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := up.WriteChunk(rctx, 0, &piecesReader{r: bytes.NewReader(data), max: 4999}); err != nil || n != int64(len(data)) {
		t.Fatalf("wrote %d of %d: %v", n, len(data), err)
	}
	r, closeFn, err := s.OpenData(ctx, info.ID, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	mem, ok := r.(interface{ Bytes() []byte })
	if !ok || !bytes.Equal(mem.Bytes(), data) {
		t.Errorf("captured: in memory %v, equal %v", ok, ok && bytes.Equal(mem.Bytes(), data))
	}
	if file, err := os.ReadFile(filepath.Join(dir, info.ID)); err != nil || !bytes.Equal(file, data) {
		t.Errorf("stored file: %d bytes, equal %v, %v", len(file), bytes.Equal(file, data), err)
	}
	if sum, err := s.Digest(ctx, info.ID, int64(len(data))); err != nil || sum != sha256.Sum256(data) {
		t.Errorf("digest %x, %v; want %x", sum, err, sha256.Sum256(data))
	}
}
