package uploadstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tusimg/tusimg/pkg/httperr"
)

func openStore(t *testing.T, dir string, sniff func([]byte) (string, error)) *Store {
	t.Helper()
	s, err := New(Options{Dir: dir, SniffLen: 16, Sniff: sniff, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func write(t *testing.T, s *Store, id string, offset int64, b []byte) (int64, error) {
	t.Helper()
	up, err := s.GetUpload(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return up.WriteChunk(context.Background(), offset, bytes.NewReader(b))
}

func acceptAll([]byte) (string, error) { return "image/png", nil }

// TestHashSurvivesRestart writes an upload in three chunks across two store
// instances (a clean restart) and checks the digest equals the SHA-256 of
// all bytes, and that the hash state is what carries it (no re-read).
func TestHashSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	s := openStore(t, dir, acceptAll)
	up, err := s.NewUpload(context.Background(), handler.FileInfo{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := up.GetInfo(context.Background())
	if n, err := write(t, s, info.ID, 0, data[:5000]); err != nil || n != 5000 {
		t.Fatalf("chunk 1: %d %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, acceptAll)
	if _, err := os.Stat(filepath.Join(dir, info.ID+extHash)); err != nil {
		t.Fatalf("hash state dropped after a clean restart: %v", err)
	}
	// Corrupt the data already hashed: a re-read would now give another sum,
	// so a correct digest proves the state was used, not the file.
	f, _ := os.OpenFile(filepath.Join(dir, info.ID), os.O_WRONLY, 0)
	f.WriteAt([]byte("XXXX"), 100)
	f.Close()
	write(t, s, info.ID, 5000, data[5000:9000])
	write(t, s, info.ID, 9000, data[9000:])
	sum, err := s.Digest(context.Background(), info.ID, int64(len(data)))
	if err != nil || sum != sha256.Sum256(data) {
		t.Fatalf("digest %x, %v; want %x", sum, err, sha256.Sum256(data))
	}
}

// TestUncleanShutdownRehashes checks that after a crash (run marker left)
// the hash states are dropped and the digest is computed from the data.
func TestUncleanShutdownRehashes(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("x"), 3000)
	s := openStore(t, dir, acceptAll)
	up, _ := s.NewUpload(context.Background(), handler.FileInfo{Size: 3000})
	info, _ := up.GetInfo(context.Background())
	write(t, s, info.ID, 0, data[:1000])
	// no Close: simulate kill -9
	s = openStore(t, dir, acceptAll)
	if _, st := s.loadHash(context.Background(), info.ID); st.Offset != 0 {
		t.Fatalf("hash state kept its offset %d after an unclean shutdown", st.Offset)
	}
	write(t, s, info.ID, 1000, data[1000:])
	sum, err := s.Digest(context.Background(), info.ID, 3000)
	if err != nil || sum != sha256.Sum256(data) {
		t.Fatalf("digest after re-hash wrong: %v", err)
	}
}

// TestEarlySniffRejects checks a refused prefix ends the session at once:
// 415 from WriteChunk, bytes deleted, outcome kept, HEAD-like lookups 410.
func TestEarlySniffRejects(t *testing.T) {
	dir := t.TempDir()
	refuse := func(b []byte) (string, error) {
		return "", httperr.New(http.StatusUnsupportedMediaType, "type_not_allowed", "not an image")
	}
	s := openStore(t, dir, refuse)
	up, _ := s.NewUpload(context.Background(), handler.FileInfo{Size: 1 << 20})
	info, _ := up.GetInfo(context.Background())
	// Send the prefix in two chunks: the first is too short to judge.
	if _, err := write(t, s, info.ID, 0, []byte("<html>")); err != nil {
		t.Fatalf("short chunk judged too early: %v", err)
	}
	_, err := write(t, s, info.ID, 6, []byte(strings.Repeat("<p>", 100)))
	var te handler.Error
	if !errors.As(err, &te) || te.HTTPResponse.StatusCode != 415 || !strings.Contains(te.HTTPResponse.Body, "type_not_allowed") {
		t.Fatalf("err %v, want 415 type_not_allowed", err)
	}
	for _, ext := range []string{"", extInfo, extHash} {
		if _, err := os.Stat(filepath.Join(dir, info.ID+ext)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%q still on disk", info.ID+ext)
		}
	}
	_, err = s.GetUpload(context.Background(), info.ID)
	if !errors.As(err, &te) || te.HTTPResponse.StatusCode != 410 {
		t.Fatalf("GetUpload after rejection: %v, want 410", err)
	}
	st, err := s.Status(context.Background(), info.ID)
	if err != nil || st.State != StateRejected || st.Error.Code != "type_not_allowed" {
		t.Fatalf("status %+v %v", st, err)
	}
}

// TestInvalidIDs refuses anything that is not a store id before touching disk.
func TestInvalidIDs(t *testing.T) {
	s := openStore(t, t.TempDir(), nil)
	for _, id := range []string{"", "..", "../etc/passwd", "ABCDEF0123456789abcdef0123456789", strings.Repeat("a", 33), "a/b"} {
		if _, err := s.GetUpload(context.Background(), id); !errors.Is(err, handler.ErrNotFound) {
			t.Errorf("GetUpload(%q) = %v, want not found", id, err)
		}
	}
}

// TestLocker checks TryLock never disturbs a holder, and a blocked Lock asks
// the holder to release and answers 423 when it does not.
func TestLocker(t *testing.T) {
	l := NewLocker()
	a, _ := l.NewLock("x")
	asked := make(chan struct{}, 1)
	if err := a.Lock(context.Background(), func() { asked <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.TryLock("x"); ok {
		t.Fatal("TryLock took a held lock")
	}
	select {
	case <-asked:
		t.Fatal("TryLock asked the holder to release")
	default:
	}
	b, _ := l.NewLock("x")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.Lock(ctx, func() {}); !errors.Is(err, handler.ErrFileLocked) {
		t.Fatalf("blocked Lock: %v, want ErrFileLocked (423)", err)
	}
	select {
	case <-asked:
	default:
		t.Fatal("holder was not asked to release")
	}
	a.Unlock()
	unlock, ok := l.TryLock("x")
	if !ok {
		t.Fatal("TryLock failed on a free lock")
	}
	unlock()
}

// TestPipelinedHashing writes large chunks from more uploads at once than
// there are pipeline slots, so both the pipelined and the inline paths run,
// and checks every digest.
func TestPipelinedHashing(t *testing.T) {
	s := openStore(t, t.TempDir(), acceptAll)
	n := maxPipes + 3
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			data := bytes.Repeat([]byte{byte(i), 1, 2, 3, 4, 5, 6}, (3<<20)/7+i)
			up, err := s.NewUpload(context.Background(), handler.FileInfo{Size: int64(len(data))})
			if err != nil {
				errs <- err
				return
			}
			info, _ := up.GetInfo(context.Background())
			half := len(data)/2 + 13
			for _, part := range [][2]int{{0, half}, {half, len(data)}} {
				up, _ := s.GetUpload(context.Background(), info.ID)
				if _, err := up.WriteChunk(context.Background(), int64(part[0]), bytes.NewReader(data[part[0]:part[1]])); err != nil {
					errs <- err
					return
				}
			}
			sum, err := s.Digest(context.Background(), info.ID, int64(len(data)))
			if err == nil && sum != sha256.Sum256(data) {
				err = errors.New("wrong digest for upload " + info.ID)
			}
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if len(pipeSlots) != 0 {
		t.Errorf("%d pipeline slots still taken", len(pipeSlots))
	}
}
