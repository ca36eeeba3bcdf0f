package contentstore

import (
	"bytes"
	"cmp"
	"container/list"
	"encoding/hex"
	"slices"
	"sync"
	"time"
)

// stamp is an upload time without a *time.Location, so that the index holds
// no pointers and costs the garbage collector nothing to scan.
type stamp struct {
	sec  int64
	nsec int32
}

func stampOf(t time.Time) stamp { return stamp{sec: t.Unix(), nsec: int32(t.Nanosecond())} }

// time returns the stamp as a UTC time; the zero stamp of a zero time.Time
// stays zero.
func (s stamp) time() time.Time { return time.Unix(s.sec, int64(s.nsec)).UTC() }

type hashKey [32]byte

// keyOf decodes a hash; ok is false unless sha is valid.
func keyOf(sha string) (k hashKey, ok bool) {
	if !ValidSHA256(sha) {
		return k, false
	}
	for i := range k { // hex.Decode without the []byte copy of sha
		k[i] = unhex(sha[2*i])<<4 | unhex(sha[2*i+1])
	}
	return k, true
}

// unhex is the value of a lowercase hex digit.
func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

type entry struct {
	at  stamp
	sha hashKey
}

// cmpEntry orders entries oldest first, ties by ascending hash.
func cmpEntry(a, b entry) int {
	if c := cmp.Compare(a.at.sec, b.at.sec); c != 0 {
		return c
	}
	if c := cmp.Compare(a.at.nsec, b.at.nsec); c != 0 {
		return c
	}
	return bytes.Compare(a.sha[:], b.sha[:])
}

// index holds every published image's hash and upload time. sorted is
// ascending (oldest first) so the common insert, a new upload, is an append;
// List walks it backwards.
type index struct {
	mu     sync.RWMutex
	at     map[hashKey]stamp
	sorted []entry
}

// newIndex builds an index from entries in any order (one sort, O(n log n)).
func newIndex(entries []entry) *index {
	slices.SortFunc(entries, cmpEntry)
	entries = slices.CompactFunc(entries, func(a, b entry) bool { return a.sha == b.sha })
	x := &index{at: make(map[hashKey]stamp, len(entries)), sorted: entries}
	for _, e := range entries {
		x.at[e.sha] = e.at
	}
	return x
}

func (x *index) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.sorted)
}

// lookup returns the upload time of sha, if it is published.
func (x *index) lookup(sha string) (stamp, bool) {
	k, ok := keyOf(sha)
	if !ok {
		return stamp{}, false
	}
	return x.lookupKey(k)
}

// lookupKey is lookup for a decoded hash.
func (x *index) lookupKey(k hashKey) (stamp, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	at, ok := x.at[k]
	return at, ok
}

// add records a published image; adding a known hash does nothing.
func (x *index) add(sha string, t time.Time) {
	k, ok := keyOf(sha)
	if !ok {
		return
	}
	e := entry{at: stampOf(t), sha: k}
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, dup := x.at[k]; dup {
		return
	}
	x.at[k] = e.at
	i, _ := slices.BinarySearchFunc(x.sorted, e, cmpEntry)
	x.sorted = slices.Insert(x.sorted, i, e)
}

// remove forgets sha.
func (x *index) remove(sha string) {
	k, ok := keyOf(sha)
	if !ok {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	at, ok := x.at[k]
	if !ok {
		return
	}
	delete(x.at, k)
	if i, found := slices.BinarySearchFunc(x.sorted, entry{at: at, sha: k}, cmpEntry); found {
		x.sorted = slices.Delete(x.sorted, i, i+1)
	}
}

// page returns up to limit hashes, newest first, starting after before when
// it is non-empty. An unknown or malformed before yields nothing.
func (x *index) page(before string, limit int) []string {
	if limit <= 0 {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	end := len(x.sorted)
	if before != "" {
		k, ok := keyOf(before)
		if !ok {
			return nil
		}
		at, ok := x.at[k]
		if !ok {
			return nil
		}
		i, found := slices.BinarySearchFunc(x.sorted, entry{at: at, sha: k}, cmpEntry)
		if !found {
			return nil
		}
		end = i
	}
	start := max(0, end-limit)
	out := make([]string, 0, end-start)
	for i := end - 1; i >= start; i-- {
		out = append(out, hex.EncodeToString(x.sorted[i].sha[:]))
	}
	return out
}

// recordCache is a fixed-size LRU of records by hash. Records are immutable,
// so entries never go stale; remove exists for Recover.
type recordCache struct {
	mu  sync.Mutex
	max int
	ll  *list.List // front is most recently used; values are Record
	m   map[string]*list.Element
}

func newRecordCache(max int) *recordCache {
	// The map grows with use: allocated for max entries up front, its 1.5
	// MB of buckets (strings and pointers) were marked by every garbage
	// collection, however few records were cached.
	return &recordCache{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

func (c *recordCache) get(sha string) (Record, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[sha]
	if !ok {
		return Record{}, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(Record), true
}

func (c *recordCache) put(sha string, rec Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[sha]; ok {
		c.ll.MoveToFront(el)
		return
	}
	c.m[sha] = c.ll.PushFront(rec)
	if c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(Record).SHA256)
	}
}

func (c *recordCache) remove(sha string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[sha]; ok {
		c.ll.Remove(el)
		delete(c.m, sha)
	}
}
