package contentstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testStore opens an FS on a fresh directory; it returns the store and the
// directory that holds the images root (for source files on the same FS).
func testStore(t testing.TB) (*FS, string) {
	t.Helper()
	base := t.TempDir()
	s, err := NewFS(filepath.Join(base, "images"), testLog(t))
	if err != nil {
		t.Fatalf("NewFS: %v", err)
	}
	return s, base
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// writeSource writes data to a new file in dir and returns its path and hash.
func writeSource(t testing.TB, dir string, data []byte) (string, string) {
	t.Helper()
	f, err := os.CreateTemp(dir, "upload-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return f.Name(), hex.EncodeToString(sum[:])
}

func pngRecord(sha string) Record {
	return Record{SHA256: sha, Type: "image/png", Ext: "png", Width: 1, Height: 1, Frames: 1}
}

func publish(t testing.TB, s *FS, dir string, data []byte, at time.Time) Record {
	t.Helper()
	src, sha := writeSource(t, dir, data)
	rec := pngRecord(sha)
	rec.UploadedAt = at
	got, deduped, err := s.PublishFile(context.Background(), src, rec)
	if err != nil {
		t.Fatalf("PublishFile: %v", err)
	}
	if deduped {
		t.Fatalf("PublishFile(%s): unexpectedly deduped", sha)
	}
	return got
}

func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: want not exist, got err=%v", path, err)
	}
}

func TestPublishGetOpen(t *testing.T) {
	s, base := testStore(t)
	ctx := context.Background()
	data := []byte("\x89PNG fake image bytes")
	src, sha := writeSource(t, base, data)
	in := pngRecord(sha)
	in.Filename = "cat.png"
	got, deduped, err := s.PublishFile(ctx, src, in)
	if err != nil || deduped {
		t.Fatalf("PublishFile = deduped %v, err %v", deduped, err)
	}
	if got.URL != "/i/"+sha+".png" || got.Size != int64(len(data)) || got.UploadedAt.IsZero() {
		t.Errorf("defaults not filled: %+v", got)
	}
	mustNotExist(t, src)
	for _, p := range []string{sha, sha + ".json"} {
		if _, err := os.Stat(filepath.Join(s.dir, sha[:2], sha[2:4], p)); err != nil {
			t.Errorf("layout: %v", err)
		}
	}
	rec, err := s.Get(ctx, sha)
	if err != nil || rec != got {
		t.Fatalf("Get = %+v, %v; want %+v", rec, err, got)
	}
	obj, err := s.Open(ctx, sha)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(b, data) {
		t.Errorf("Open read %q, %v", b, err)
	}
	if obj.Size() != int64(len(data)) || !obj.ModTime().Equal(got.UploadedAt) {
		t.Errorf("Object Size %d ModTime %v", obj.Size(), obj.ModTime())
	}
	if _, ok := obj.(syscall.Conn); !ok {
		t.Error("Object does not expose syscall.Conn: sendfile fast path lost")
	}
}

func TestPublishDedupe(t *testing.T) {
	s, base := testStore(t)
	ctx := context.Background()
	data := []byte("same bytes twice")
	first := publish(t, s, base, data, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))

	src2, sha := writeSource(t, base, data)
	in := pngRecord(sha)
	in.Filename = "other.png"
	got, deduped, err := s.PublishFile(ctx, src2, in)
	if err != nil || !deduped {
		t.Fatalf("second PublishFile = deduped %v, err %v", deduped, err)
	}
	if got != first {
		t.Errorf("deduped record = %+v, want first %+v", got, first)
	}
	mustNotExist(t, src2)
	entries, err := os.ReadDir(filepath.Join(s.dir, sha[:2], sha[2:4]))
	if err != nil || len(entries) != 2 {
		t.Errorf("shard holds %d entries (%v), want bytes + record", len(entries), err)
	}
}

func TestPublishConcurrentSameHash(t *testing.T) {
	s, base := testStore(t)
	data := bytes.Repeat([]byte("concurrent"), 1000)
	const n = 8
	srcs := make([]string, n)
	var sha string
	for i := range srcs {
		srcs[i], sha = writeSource(t, base, data)
	}
	type result struct {
		rec     Record
		deduped bool
		err     error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec, d, err := s.PublishFile(context.Background(), srcs[i], pngRecord(sha))
			results[i] = result{rec, d, err}
		})
	}
	wg.Wait()
	winners := 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("publish %d: %v", i, r.err)
		}
		if !r.deduped {
			winners++
		}
		if r.rec != results[0].rec {
			t.Errorf("publish %d returned %+v, want %+v", i, r.rec, results[0].rec)
		}
		mustNotExist(t, srcs[i])
	}
	if winners != 1 {
		t.Errorf("%d publishes stored the image, want exactly 1", winners)
	}
	if got, err := s.List(context.Background(), "", 10); err != nil || len(got) != 1 {
		t.Errorf("List = %d records, %v; want 1", len(got), err)
	}
}

func TestNotFound(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	for _, sha := range []string{
		strings.Repeat("a", 64),           // well-formed, unknown
		strings.Repeat("A", 64),           // uppercase
		strings.Repeat("a", 63),           // short
		"../" + strings.Repeat("a", 61),   // traversal
		strings.Repeat("a", 64) + ".json", // record name
		"",
	} {
		if _, err := s.Get(ctx, sha); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) err = %v, want ErrNotFound", sha, err)
		}
		if _, err := s.Open(ctx, sha); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) err = %v, want ErrNotFound", sha, err)
		}
	}
}

func TestPublishRejects(t *testing.T) {
	s, base := testStore(t)
	src, sha := writeSource(t, base, []byte("data"))
	link := filepath.Join(base, "symlink")
	if err := os.Symlink(src, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  string
		rec  Record
		is   error
	}{
		{"uppercase", src, pngRecord(strings.ToUpper(sha)), ErrBadHash},
		{"short", src, pngRecord(sha[:63]), ErrBadHash},
		{"long", src, pngRecord(sha + "0"), ErrBadHash},
		{"traversal", src, pngRecord("../../" + sha[6:]), ErrBadHash},
		{"empty", src, pngRecord(""), ErrBadHash},
		{"missing source", filepath.Join(base, "nope"), pngRecord(sha), fs.ErrNotExist},
		{"symlink source", link, pngRecord(sha), nil},
		{"size mismatch", src, Record{SHA256: sha, Size: 99}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.PublishFile(context.Background(), tt.src, tt.rec)
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if _, err := os.Stat(src); err != nil {
				t.Errorf("source touched by rejected publish: %v", err)
			}
		})
	}
	if got, _ := s.List(context.Background(), "", 10); len(got) != 0 {
		t.Errorf("rejected publishes listed: %+v", got)
	}
}

func TestCopyFallback(t *testing.T) {
	s, base := testStore(t)
	s.link = func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EXDEV}
	}
	data := []byte("cross-device bytes")
	rec := publish(t, s, base, data, time.Time{})
	obj, err := s.Open(context.Background(), rec.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if b, _ := io.ReadAll(obj); !bytes.Equal(b, data) {
		t.Errorf("copied bytes = %q", b)
	}
	if left, _ := os.ReadDir(s.tmp); len(left) != 0 {
		t.Errorf("temp dir not empty after copy: %v", left)
	}
}

func TestPublishOverOrphanAndCorruptRecord(t *testing.T) {
	s, base := testStore(t)
	data := []byte("interrupted before")
	_, sha := writeSource(t, base, data)
	shard := filepath.Join(s.dir, sha[:2], sha[2:4])
	if err := os.MkdirAll(shard, 0o750); err != nil {
		t.Fatal(err)
	}
	// Orphan bytes (wrong content, as if half-copied) and a corrupt record.
	if err := os.WriteFile(filepath.Join(shard, sha), []byte("half"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shard, sha+".json"), []byte("{trunc"), 0o640); err != nil {
		t.Fatal(err)
	}
	rec := publish(t, s, base, data, time.Time{})
	obj, err := s.Open(context.Background(), rec.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if b, _ := io.ReadAll(obj); !bytes.Equal(b, data) {
		t.Errorf("bytes = %q, want the published ones", b)
	}
}

func TestPermissions(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	s, base := testStore(t)
	rec := publish(t, s, base, []byte("perm"), time.Time{})
	shard := filepath.Join(s.dir, rec.SHA256[:2], rec.SHA256[2:4])
	for path, want := range map[string]fs.FileMode{
		s.dir:                                    0o750 | fs.ModeDir,
		s.tmp:                                    0o750 | fs.ModeDir,
		filepath.Dir(shard):                      0o750 | fs.ModeDir,
		shard:                                    0o750 | fs.ModeDir,
		filepath.Join(shard, rec.SHA256):         0o640,
		filepath.Join(shard, rec.SHA256+".json"): 0o640,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode(), want)
		}
	}
}

func TestReady(t *testing.T) {
	s, _ := testStore(t)
	if err := s.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if left, _ := os.ReadDir(s.tmp); len(left) != 0 {
		t.Errorf("probe left behind: %v", left)
	}
	if err := os.RemoveAll(s.dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(context.Background()); err == nil {
		t.Error("Ready succeeded on a removed store")
	}
}

func TestRecordCacheBounded(t *testing.T) {
	c := newRecordCache(2)
	for i := range 3 {
		sha := fmt.Sprintf("%064x", i)
		c.put(sha, Record{SHA256: sha})
	}
	if _, ok := c.get(fmt.Sprintf("%064x", 0)); ok {
		t.Error("oldest entry not evicted")
	}
	if c.ll.Len() != 2 || len(c.m) != 2 {
		t.Errorf("cache holds %d/%d, want 2", c.ll.Len(), len(c.m))
	}
}

func TestStampRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{{}, time.Date(2025, 6, 7, 8, 9, 10, 123456789, time.UTC)} {
		if got := stampOf(tm).time(); !got.Equal(tm) || got.IsZero() != tm.IsZero() {
			t.Errorf("stamp round trip of %v = %v", tm, got)
		}
	}
}
