package contentstore

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func readAllOf(t *testing.T, s Store, sha string) []byte {
	t.Helper()
	obj, err := s.Open(context.Background(), sha)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cachedEnv(t *testing.T, max int64) (*s3Env, string) {
	t.Helper()
	e := newS3Env(t, "")
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stale"), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := e.store.UseDiskCache(dir, max); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale")); err == nil {
		t.Error("UseDiskCache kept an old file")
	}
	return e, dir
}

// TestS3DiskCache: a full read copies the image to disk, later Opens are
// served from the copy without S3; partial reads and HEADs copy nothing.
func TestS3DiskCache(t *testing.T) {
	e, dir := cachedEnv(t, 10<<20)
	ctx := context.Background()
	a := randomData(300 << 10)
	b := randomData(300 << 10)
	recA := publishTo(t, e.store, e.base, a, time.Now())
	recB := publishTo(t, e.store, e.base, b, time.Now())
	e.reqs.take()

	obj, _ := e.store.Open(ctx, recB.SHA256) // HEAD-like: no read
	obj.Close()
	obj, _ = e.store.Open(ctx, recB.SHA256) // a range from 0, not to the end
	if _, err := io.CopyN(io.Discard, obj, 1000); err != nil {
		t.Fatal(err)
	}
	obj.Close()
	if st := e.store.DiskCacheStats(); st.Fills != 0 || st.Bytes != 0 {
		t.Fatalf("partial reads filled the cache: %+v", st)
	}
	if !bytes.Equal(readAllOf(t, e.store, recA.SHA256), a) {
		t.Fatal("first read: bytes differ")
	}
	if _, gets := e.reqs.take(); gets != 2 {
		t.Errorf("%d GETs before the copy, want 2", gets)
	}
	if _, err := os.Stat(filepath.Join(dir, recA.SHA256)); err != nil {
		t.Fatalf("no copy on disk: %v", err)
	}
	for range 3 {
		obj, err := e.store.Open(ctx, recA.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := obj.(*fileObject); !ok {
			t.Errorf("cached Open returned %T", obj)
		}
		obj.Close()
		if !bytes.Equal(readAllOf(t, e.store, recA.SHA256), a) {
			t.Fatal("cached read: bytes differ")
		}
	}
	if all, gets := e.reqs.take(); gets != 0 || len(all) != 0 {
		t.Errorf("cached reads sent requests: %v", all)
	}
	if st := e.store.DiskCacheStats(); st.Fills != 1 || st.Bytes != int64(len(a)) || st.Hits != 6 {
		t.Errorf("stats %+v", st)
	}
}

// TestS3DiskCacheLimits: eviction by size, no copies of large images, no
// copies of bytes that do not match their hash, one copy per hash.
func TestS3DiskCacheLimits(t *testing.T) {
	e, dir := cachedEnv(t, 1<<20)
	var recs []Record
	for range 6 {
		recs = append(recs, publishTo(t, e.store, e.base, randomData(200<<10), time.Now()))
	}
	big := publishTo(t, e.store, e.base, randomData(300<<10), time.Now()) // > max/4
	for _, r := range append(recs, big) {
		readAllOf(t, e.store, r.SHA256)
	}
	st := e.store.DiskCacheStats()
	if st.Bytes > 1<<20 || st.Fills != 6 {
		t.Errorf("stats %+v: want 6 fills, at most 1 MiB held", st)
	}
	if _, err := os.Stat(filepath.Join(dir, recs[0].SHA256)); err == nil {
		t.Error("least recently used copy not evicted")
	}
	if _, err := os.Stat(filepath.Join(dir, big.SHA256)); err == nil {
		t.Error("an image above max/4 was copied")
	}

	bad := publishTo(t, e.store, e.base, randomData(1000), time.Now())
	putObject(t, e, e.store.blobKey(bad.SHA256), randomData(1000)) // same size, other bytes
	readAllOf(t, e.store, bad.SHA256)
	if _, err := os.Stat(filepath.Join(dir, bad.SHA256)); err == nil {
		t.Error("bytes that do not match their hash were cached")
	}

	one := publishTo(t, e.store, e.base, randomData(100<<10), time.Now())
	before := e.store.DiskCacheStats().Fills
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { readAllOf(t, e.store, one.SHA256) })
	}
	wg.Wait()
	if fills := e.store.DiskCacheStats().Fills - before; fills != 1 {
		t.Errorf("%d copies of one image from concurrent reads", fills)
	}
	entries, _ := os.ReadDir(dir)
	for _, de := range entries {
		if !ValidSHA256(de.Name()) {
			t.Errorf("left in the cache directory: %s", de.Name())
		}
	}
}
