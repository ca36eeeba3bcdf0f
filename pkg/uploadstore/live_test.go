package uploadstore

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
)

// writeReq writes one chunk as a request would: with its Content-Length in
// the context, so a large chunk is pipelined from its first byte.
func writeReq(ctx context.Context, t *testing.T, s *Store, id string, offset int64, b []byte) (int64, error) {
	t.Helper()
	ctx, _, _ = WithRequest(ctx, int64(len(b)))
	up, err := s.GetUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return up.WriteChunk(ctx, offset, bytes.NewReader(b))
}

// savedState reads the hash state on disk and returns its offset and the
// digest of the bytes it covers.
func savedState(t *testing.T, dir, id string) (int64, [32]byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, id+extHash))
	if err != nil {
		t.Fatal(err)
	}
	var st hashState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	h := newHash()
	if err := h.(interface{ UnmarshalBinary([]byte) error }).UnmarshalBinary(st.State); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return st.Offset, sum
}

// TestLiveHashAcrossChunks writes an upload in large chunks, whose last
// blocks are hashed after the chunk is answered, and checks that every
// saved state is exact once settled, that a chunk with a bad checksum is
// dropped without disturbing the hash, that a restart continues from the
// saved state, and that the digest is right.
func TestLiveHashAcrossChunks(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	data := bytes.Repeat([]byte("tusimg-live-hash"), (5<<20+12345)/16)
	const chunk = 5 << 18 // 1.25 MiB: pipelined
	s := openStore(t, dir, acceptAll)
	up, err := s.NewUpload(ctx, handler.FileInfo{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := up.GetInfo(ctx)
	id := info.ID
	for off := int64(0); off < 2*chunk; off += chunk {
		if n, err := writeReq(ctx, t, s, id, off, data[off:off+chunk]); err != nil || n != chunk {
			t.Fatalf("chunk at %d: %d, %v", off, n, err)
		}
	}
	s.settle(id)
	if off, sum := savedState(t, dir, id); off != 2*chunk || sum != sha256.Sum256(data[:2*chunk]) {
		t.Fatalf("saved state after two chunks: offset %d, digest matches %v", off, sum == sha256.Sum256(data[:2*chunk]))
	}

	// Right after a chunk still hashing in the background, a chunk whose
	// Upload-Checksum does not match is discarded: the data is cut back
	// and the hash still describes the bytes before it.
	if n, err := writeReq(ctx, t, s, id, 2*chunk, data[2*chunk:3*chunk]); err != nil || n != chunk {
		t.Fatalf("chunk 3: %d, %v", n, err)
	}
	bad := sha1.Sum([]byte("not these bytes"))
	sum, err := ParseChecksum("sha1 " + base64.StdEncoding.EncodeToString(bad[:]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeReq(WithChecksum(ctx, sum), t, s, id, 3*chunk, data[3*chunk:4*chunk]); !isStatus(err, 460) {
		t.Fatalf("bad checksum: got %v, want 460", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, id)); err != nil || fi.Size() != 3*chunk {
		t.Fatalf("data after the discarded chunk: %v, %v", fi, err)
	}
	if n, err := writeReq(ctx, t, s, id, 3*chunk, data[3*chunk:4*chunk]); err != nil || n != chunk {
		t.Fatalf("chunk 4: %d, %v", n, err)
	}

	// A clean restart waits for the background hash; the next store goes
	// on from the saved state.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if off, sum := savedState(t, dir, id); off != 4*chunk || sum != sha256.Sum256(data[:4*chunk]) {
		t.Fatalf("saved state after Close: offset %d (want %d), digest matches %v", off, 4*chunk, sum == sha256.Sum256(data[:4*chunk]))
	}
	s = openStore(t, dir, acceptAll)
	if n, err := writeReq(ctx, t, s, id, 4*chunk, data[4*chunk:]); err != nil || n != int64(len(data))-4*chunk {
		t.Fatalf("last chunk: %d, %v", n, err)
	}
	got, err := s.Digest(ctx, id, int64(len(data)))
	if err != nil || got != sha256.Sum256(data) {
		t.Fatalf("digest: %x, %v; want %x", got, err, sha256.Sum256(data))
	}
	if len(pipeSlots) != 0 {
		t.Errorf("%d pipeline slots still taken", len(pipeSlots))
	}
}

// isStatus reports whether err is a tusd error with the given status.
func isStatus(err error, status int) bool {
	var e handler.Error
	return errors.As(err, &e) && e.HTTPResponse.StatusCode == status
}

// TestSlowBodyIsStored checks that bytes of a large chunk that trickles in
// reach the data file while the request goes on, rather than waiting in a
// pipeline block for more.
func TestSlowBodyIsStored(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, acceptAll)
	ctx := context.Background()
	const size = 4 << 20
	up, err := s.NewUpload(ctx, handler.FileInfo{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := up.GetInfo(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		rctx, _, _ := WithRequest(ctx, size) // large: pipelined from the first byte
		up, err := s.GetUpload(rctx, info.ID)
		if err == nil {
			_, err = up.WriteChunk(rctx, 0, pr)
		}
		done <- err
	}()
	if _, err := pw.Write(bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 1024)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		fi, err := os.Stat(filepath.Join(dir, info.ID))
		if err == nil && fi.Size() == 4096 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("4096 bytes sent, the data file holds %v (%v) after 5 s", fi.Size(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	pw.CloseWithError(errors.New("client gone"))
	if err := <-done; err == nil {
		t.Fatal("an interrupted body must fail the chunk")
	}
	s.settle(info.ID)
	if off, sum := savedState(t, dir, info.ID); off != 4096 || sum != sha256.Sum256(bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 1024)) {
		t.Errorf("hash state after the interrupted chunk: offset %d", off)
	}
}

// shortWriter takes at most max bytes per Write, and fails after failAt.
type shortWriter struct {
	buf         bytes.Buffer
	max, failAt int
	calls       int
}

func (w *shortWriter) Write(p []byte) (int, error) {
	w.calls++
	if w.buf.Len() >= w.failAt {
		return 0, errors.New("disk full")
	}
	if len(p) > w.max {
		p = p[:w.max]
	}
	return w.buf.Write(p)
}

// TestWriteSlices checks that a block reaches the store in pieces of at most
// writeSlice bytes, whole, and that a short or failing write is reported
// with what was written.
func TestWriteSlices(t *testing.T) {
	b := bytes.Repeat([]byte("0123456789abcdef"), (3*writeSlice+100)/16)
	w := &shortWriter{max: writeSlice, failAt: len(b)}
	if n, err := writeSlices(w, b); n != len(b) || err != nil || !bytes.Equal(w.buf.Bytes(), b) || w.calls != 4 {
		t.Fatalf("wrote %d of %d in %d calls: %v", n, len(b), w.calls, err)
	}
	w = &shortWriter{max: 100, failAt: len(b)}
	if n, err := writeSlices(w, b); n != 100 || !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short write: %d, %v", n, err)
	}
	w = &shortWriter{max: writeSlice, failAt: writeSlice}
	if n, err := writeSlices(w, b); n != writeSlice || err == nil {
		t.Fatalf("failing write: %d, %v", n, err)
	}
}
