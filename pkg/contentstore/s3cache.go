package contentstore

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// DiskCacheStats counts what the S3 store's disk cache did since it was
// enabled.
type DiskCacheStats struct {
	Hits, Misses, Fills int64 // Opens served from disk, Opens that went to S3, images added
	Bytes               int64 // bytes held now
}

// UseDiskCache makes Open serve images from whole copies in dir, a local
// directory holding at most maxBytes. A copy is made, at no extra S3 cost,
// while a response reads an image from S3 from its first byte to its last;
// it is kept only if its SHA-256 matches. Images larger than maxBytes/4 are
// never cached. Least recently opened images are evicted first. Images are
// immutable, so copies never go stale.
//
// dir is emptied first: the cache does not survive restarts, so nothing on
// local disk is trusted without having been verified by this process. Call
// UseDiskCache before the store is used; it is not safe to call concurrently
// with other methods.
func (s *S3) UseDiskCache(dir string, maxBytes int64) error {
	if maxBytes <= 0 {
		return fmt.Errorf("contentstore: disk cache size %d must be positive", maxBytes)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("contentstore: empty disk cache %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return fmt.Errorf("contentstore: create disk cache %s: %w", dir, err)
	}
	s.disk = &diskCache{dir: dir, max: maxBytes, log: s.log, ll: list.New(),
		m: map[string]*list.Element{}, filling: map[string]bool{}}
	return nil
}

// DiskCacheStats returns the disk cache's counters (zero without a cache).
func (s *S3) DiskCacheStats() DiskCacheStats {
	if s.disk == nil {
		return DiskCacheStats{}
	}
	return s.disk.stats()
}

// diskCache is the LRU of verified image copies behind UseDiskCache.
type diskCache struct {
	dir string
	max int64
	log *slog.Logger

	hits, misses, fills atomic.Int64

	mu      sync.Mutex
	ll      *list.List // front: most recently opened; values *cacheEntry
	m       map[string]*list.Element
	total   int64
	filling map[string]bool // hashes being copied now
}

type cacheEntry struct {
	sha  string
	size int64
}

func (c *diskCache) path(sha string) string { return filepath.Join(c.dir, sha) }

func (c *diskCache) stats() DiskCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return DiskCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Fills: c.fills.Load(), Bytes: c.total}
}

// open returns the cached copy of sha, which must have size bytes.
func (c *diskCache) open(sha string, size int64) (*os.File, bool) {
	c.mu.Lock()
	el, ok := c.m[sha]
	if ok {
		c.ll.MoveToFront(el)
	}
	c.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	f, err := os.Open(c.path(sha))
	if err == nil {
		if st, serr := f.Stat(); serr != nil || st.Size() != size {
			_ = f.Close()
			err = fmt.Errorf("cached copy has the wrong size")
		}
	}
	if err != nil { // evicted meanwhile, or damaged: forget it
		if !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("contentstore.disk_cache_bad", "sha256", sha, "err", err)
		}
		c.remove(sha)
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return f, true
}

func (c *diskCache) remove(sha string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[sha]; ok {
		c.evict(el)
	}
}

// evict drops el; c.mu must be held.
func (c *diskCache) evict(el *list.Element) {
	e := c.ll.Remove(el).(*cacheEntry)
	delete(c.m, e.sha)
	c.total -= e.size
	if err := os.Remove(c.path(e.sha)); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.log.Warn("contentstore.disk_cache_evict", "sha256", e.sha, "err", err)
	}
}

// startFill begins a copy of sha, or returns nil when it is too large,
// cached, already being copied, or the temp file cannot be made.
func (c *diskCache) startFill(sha string, size int64) *cacheFill {
	if size > c.max/4 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[sha]; ok || c.filling[sha] {
		return nil
	}
	f, err := os.CreateTemp(c.dir, tmpPrefix+"*")
	if err != nil {
		c.log.Warn("contentstore.disk_cache_fill", "sha256", sha, "err", err)
		return nil
	}
	c.filling[sha] = true
	return &cacheFill{c: c, sha: sha, size: size, f: f, h: sha256.New()}
}

// cacheFill is one copy in progress; it is used by one goroutine.
type cacheFill struct {
	c    *diskCache
	sha  string
	size int64
	f    *os.File
	h    hash.Hash
	n    int64 // bytes written
}

// write appends p; the fill is complete when n reaches size. It reports
// false when the fill failed and was aborted.
func (f *cacheFill) write(p []byte) bool {
	f.h.Write(p)
	if _, err := f.f.Write(p); err != nil {
		f.c.log.Warn("contentstore.disk_cache_fill", "sha256", f.sha, "err", err)
		f.abort()
		return false
	}
	f.n += int64(len(p))
	if f.n == f.size {
		f.finish()
	}
	return true
}

// finish verifies the copy and puts it in place.
func (f *cacheFill) finish() {
	c := f.c
	tmp := f.f.Name()
	err := f.f.Close()
	if err == nil && hex.EncodeToString(f.h.Sum(nil)) != f.sha {
		err = errors.New("bytes from S3 do not match their hash")
	}
	if err == nil {
		err = os.Rename(tmp, c.path(f.sha))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.filling, f.sha)
	if err != nil {
		c.log.Warn("contentstore.disk_cache_fill", "sha256", f.sha, "err", err)
		_ = os.Remove(tmp)
		return
	}
	c.m[f.sha] = c.ll.PushFront(&cacheEntry{sha: f.sha, size: f.size})
	c.total += f.size
	c.fills.Add(1)
	for c.total > c.max {
		c.evict(c.ll.Back())
	}
}

// abort drops an incomplete copy.
func (f *cacheFill) abort() {
	_ = f.f.Close()
	_ = os.Remove(f.f.Name())
	f.c.mu.Lock()
	delete(f.c.filling, f.sha)
	f.c.mu.Unlock()
}
