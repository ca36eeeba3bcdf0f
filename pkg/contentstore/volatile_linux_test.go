package contentstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestVolatileStoreOnTmpfs: a store in /dev/shm is known to be in memory,
// so publishing skips fsync there; publishing, reopening (the index is
// rebuilt from the records) and reading back work as on disk.
func TestVolatileStoreOnTmpfs(t *testing.T) {
	if !inMemoryFS("/dev/shm") {
		if os.Getenv("CI") == "true" {
			t.Fatal("/dev/shm is not tmpfs on this CI machine")
		}
		t.Skip("/dev/shm is not tmpfs here")
	}
	base, err := os.MkdirTemp("/dev/shm", "tusimg-volatile-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	dir := filepath.Join(base, "images")
	s, err := NewFS(dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if !s.volatile {
		t.Fatal("a store in /dev/shm is not seen as in memory")
	}
	data := []byte("\x89PNG volatile bytes")
	rec := publish(t, s, base, data, time.Now().UTC().Truncate(time.Millisecond))
	again, err := NewFS(dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := again.Get(context.Background(), rec.SHA256)
	if err != nil || got != rec {
		t.Fatalf("after reopening: %+v, %v; want %+v", got, err, rec)
	}
	b, err := os.ReadFile(filepath.Join(dir, rec.SHA256[:2], rec.SHA256[2:4], rec.SHA256))
	if err != nil || string(b) != string(data) {
		t.Fatalf("bytes %q, %v", b, err)
	}
	// Without fsync the source is checked by lstat: a symlink is still
	// refused, and stays where it was.
	target, sha := writeSource(t, base, []byte("\x89PNG behind a link"))
	link := filepath.Join(base, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PublishFile(context.Background(), link, pngRecord(sha)); err == nil {
		t.Error("published a symlink")
	}
	if _, err := os.Lstat(link); err != nil {
		t.Errorf("the refused source is gone: %v", err)
	}
}

// TestShardRemovedBehindOurBack: a shard directory removed while the store
// believes it exists is made again by the next publish into it, on disk
// and in memory alike (a volatile store opens no directory to notice).
func TestShardRemovedBehindOurBack(t *testing.T) {
	bases := map[string]string{"disk": t.TempDir()}
	if inMemoryFS("/dev/shm") {
		shm, err := os.MkdirTemp("/dev/shm", "tusimg-shard-*")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(shm) })
		bases["tmpfs"] = shm
	}
	for name, base := range bases {
		s, err := NewFS(filepath.Join(base, "images"), testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		first := publish(t, s, base, []byte("\x89PNG first"), time.Now())
		shard := filepath.Join(s.dir, first.SHA256[:2], first.SHA256[2:4])
		// Another image for the same shard: same first four hex digits.
		var data []byte
		for i := 0; ; i++ {
			data = []byte(fmt.Sprintf("\x89PNG second %d", i))
			if _, sha := hashOf(data); sha[:4] == first.SHA256[:4] {
				break
			}
		}
		if err := os.RemoveAll(shard); err != nil {
			t.Fatal(err)
		}
		rec := publish(t, s, base, data, time.Now())
		if _, err := os.Stat(filepath.Join(shard, rec.SHA256)); err != nil {
			t.Errorf("%s: after the shard was removed: %v", name, err)
		}
	}
}

func hashOf(b []byte) ([32]byte, string) {
	sum := sha256.Sum256(b)
	return sum, hex.EncodeToString(sum[:])
}
