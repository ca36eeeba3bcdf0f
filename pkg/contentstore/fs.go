package contentstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Permissions of what FS creates. The process umask may only narrow them.
const (
	dirPerm  fs.FileMode = 0o750
	filePerm fs.FileMode = 0o640
)

const (
	tmpDirName   = ".tmp"  // in-flight copies and probes, inside the root
	tmpPrefix    = ".tmp-" // temp files in shard directories (records being written)
	recordSuffix = ".json"
	cacheRecords = 10000 // records kept by the Get cache
)

// ErrBadHash is returned by PublishFile when the record's SHA256 is not 64
// lowercase hex characters. Get and Open answer such a hash with ErrNotFound,
// since it can never be stored.
var ErrBadHash = errors.New("contentstore: malformed sha256")

// errCorruptRecord marks a record file that exists but cannot be used (bad
// JSON, or a record for another hash).
var errCorruptRecord = errors.New("corrupt record")

// FS is the filesystem Store. Under its root directory each image lives at
// ab/cd/<sha256> and its record at ab/cd/<sha256>.json, where ab and cd are
// the first two bytes of the hash in hex; in-flight copies use root/.tmp/, so
// every rename stays on one file system.
//
// An image is published only when its record exists: a bytes file without a
// record is invisible to Get, Open and List, and is removed by Recover.
//
// FS keeps an in-memory index of all published images (hash and upload time,
// about 100 bytes per image, no pointers) for List and for answering unknown
// hashes without touching the disk, plus an LRU cache of the last 10,000
// records read by Get. The index is built by NewFS, which reads every record
// once: startup is O(n) in the number of stored images. FS assumes it is the
// only writer of its root; two processes sharing one root is not supported
// (use an object store for that).
//
// FS is safe for concurrent use, except Recover (see there).
type FS struct {
	dir      string
	cleanDir string   // filepath.Clean(dir)
	root     *os.File // dir, open: images are opened relative to it (see openImage)
	rootFD   int      // root's descriptor
	tmp      string
	log      *slog.Logger
	link     func(oldname, newname string) error // os.Link; replaced by tests
	locks    [256]sync.Mutex                     // striped by the hash's first byte
	shards   sync.Map                            // shard directories known to exist
	idx      *index
	cache    *recordCache
	// volatile: dir is in memory (tmpfs, ramfs), where nothing survives
	// a reboot and fsync buys nothing: publishing skips it.
	volatile bool

	// PublishPause, when positive, makes PublishFile sleep after the bytes
	// are in place and before the record is written: the crash window that
	// kill -9 tests aim at. Zero (no pause) outside such tests.
	PublishPause time.Duration
}

var _ Store = (*FS)(nil)

// NewFS opens (creating with mode 0750 when needed) the image store rooted at
// dir and builds its index by reading every record under dir. Records whose
// bytes are missing or that cannot be parsed are skipped (and logged); call
// Recover to remove them. A nil log discards logs.
func NewFS(dir string, log *slog.Logger) (*FS, error) {
	if dir == "" {
		return nil, errors.New("contentstore: empty directory")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &FS{
		dir:      dir,
		cleanDir: strings.TrimSuffix(filepath.Clean(dir), string(filepath.Separator)), // "/" becomes ""
		tmp:      filepath.Join(dir, tmpDirName),
		log:      log,
		link:     os.Link,
		cache:    newRecordCache(cacheRecords),
	}
	if err := os.MkdirAll(s.tmp, dirPerm); err != nil {
		return nil, fmt.Errorf("contentstore: create %s: %w", s.tmp, err)
	}
	root, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("contentstore: open %s: %w", dir, err)
	}
	s.root, s.rootFD = root, int(root.Fd())
	if s.volatile = inMemoryFS(dir); s.volatile {
		log.Info("contentstore.volatile", "dir", dir,
			"note", "the store is in memory (tmpfs): images do not survive a reboot, so publishing skips fsync")
	}
	start := time.Now()
	idx, err := s.buildIndex(context.Background())
	if err != nil {
		return nil, err
	}
	s.idx = idx
	log.Info("contentstore.opened", "dir", dir, "images", idx.len(),
		"duration", time.Since(start))
	return s, nil
}

// ValidSHA256 reports whether s is a SHA-256 in the store's spelling: exactly
// 64 lowercase hexadecimal characters.
func ValidSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	bad := byte(0)
	for i := 0; i < len(s); i++ {
		bad |= notLowerHex[s[i]]
	}
	return bad == 0
}

// notLowerHex is 1 for every byte that is not one of 0-9a-f.
var notLowerHex = func() (t [256]byte) {
	for i := range t {
		if (i < '0' || i > '9') && (i < 'a' || i > 'f') {
			t[i] = 1
		}
	}
	return t
}()

// paths returns the shard directory, bytes path and record path of a valid sha.
func (s *FS) paths(sha string) (shard, blob, rec string) {
	shard = filepath.Join(s.dir, sha[0:2], sha[2:4])
	blob = filepath.Join(shard, sha)
	return shard, blob, blob + recordSuffix
}

// lockFor returns the mutex serialising publishes of a valid sha.
func (s *FS) lockFor(sha string) *sync.Mutex {
	b, _ := hex.DecodeString(sha[:2])
	return &s.locks[b[0]]
}

// Get implements Store. Records are immutable, so results are cached.
func (s *FS) Get(ctx context.Context, sha string) (Record, error) {
	if !ValidSHA256(sha) {
		return Record{}, fmt.Errorf("contentstore: get: malformed hash: %w", ErrNotFound)
	}
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	if rec, ok := s.cache.get(sha); ok {
		return rec, nil
	}
	if _, ok := s.idx.lookup(sha); !ok {
		return Record{}, fmt.Errorf("contentstore: get %s: %w", sha, ErrNotFound)
	}
	_, _, recPath := s.paths(sha)
	rec, err := readRecord(recPath, sha)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, fmt.Errorf("contentstore: get %s: %w", sha, ErrNotFound)
	}
	if err != nil {
		return Record{}, err
	}
	s.cache.put(sha, rec)
	return rec, nil
}

// Open implements Store. The returned Object embeds the *os.File, so it also
// implements syscall.Conn and io.WriterTo: net/http's sendfile fast path
// applies when it is served with http.ServeContent.
func (s *FS) Open(ctx context.Context, sha string) (Object, error) {
	k, ok := keyOf(sha)
	if !ok {
		return nil, fmt.Errorf("contentstore: open: malformed hash: %w", ErrNotFound)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	at, ok := s.idx.lookupKey(k)
	if !ok {
		return nil, fmt.Errorf("contentstore: open %s: %w", sha, ErrNotFound)
	}
	obj, err := s.openImage(sha, at.time())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("contentstore: open %s: %w", sha, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("contentstore: open %s: %w", sha, err)
	}
	return obj, nil
}

// blobPath is paths' blob alone, without the Join's Clean.
func (s *FS) blobPath(sha string) string {
	sep := string(filepath.Separator)
	return s.cleanDir + sep + sha[0:2] + sep + sha[2:4] + sep + sha
}

// openFileObject opens name as an *os.File based Object; a zero mod is
// taken from the file.
func openFileObject(name string, mod time.Time) (Object, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if mod.IsZero() {
		mod = st.ModTime()
	}
	return &fileObject{File: f, size: st.Size(), mod: mod}, nil
}

// List implements Store. Images are ordered newest first by UploadedAt, ties
// broken by descending hash. limit is not capped here (callers bound it); a
// limit <= 0 yields an empty list. The result is never nil.
func (s *FS) List(ctx context.Context, before string, limit int) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	shas := s.idx.page(before, limit)
	recs := make([]Record, 0, len(shas))
	for _, sha := range shas {
		rec, err := s.Get(ctx, sha)
		if errors.Is(err, ErrNotFound) {
			continue // removed since the index was read
		}
		if err != nil {
			return nil, fmt.Errorf("contentstore: list: %w", err)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// Ready implements Store: it creates and removes a probe file in the temp
// directory, which proves the root is writable.
func (s *FS) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.tmp, "ready-*")
	if err != nil {
		return fmt.Errorf("contentstore: ready probe in %s: %w", s.tmp, err)
	}
	name := f.Name()
	cerr := f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("contentstore: ready probe remove %s: %w", name, err)
	}
	if cerr != nil {
		return fmt.Errorf("contentstore: ready probe close %s: %w", name, cerr)
	}
	return nil
}

// fileObject is the Object returned by FS.Open.
type fileObject struct {
	*os.File
	size int64
	mod  time.Time
}

func (o *fileObject) Size() int64        { return o.size }
func (o *fileObject) ModTime() time.Time { return o.mod }

// readRecord reads and parses the record at path, which must describe sha.
// A missing file yields an error wrapping fs.ErrNotExist, an unusable one an
// error wrapping errCorruptRecord.
func readRecord(path, sha string) (Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Record{}, fmt.Errorf("contentstore: read record %s: %w", path, err)
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return Record{}, fmt.Errorf("contentstore: record %s: %w: %v", path, errCorruptRecord, err)
	}
	if rec.SHA256 != sha {
		return Record{}, fmt.Errorf("contentstore: record %s: %w: it describes %q",
			path, errCorruptRecord, rec.SHA256)
	}
	return rec, nil
}
