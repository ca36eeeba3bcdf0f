package contentstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tusimg/tusimg/pkg/sysfile"
)

// PublishFile implements Store. Steps, each durable before the next:
//
//  1. srcPath (a regular file, not a symlink) is fsynced; rec.Size, when
//     non-zero, must equal its size, and is filled in when zero.
//  2. Under a per-hash lock: when the index knows the hash and a usable
//     record and the bytes exist, srcPath is removed and the stored record
//     returned (deduped).
//  3. The bytes get their name: srcPath is hard-linked to ab/cd/<sha256>
//     (same file system: O(1), no copy) or, when linking is impossible
//     (EXDEV, no hard links), copied to root/.tmp/, fsynced and renamed
//     there. The shard directory is fsynced.
//  4. The record is written to a temp file in the shard directory, fsynced,
//     renamed to <sha256>.json, and the directory fsynced. From here on the
//     image is published.
//  5. srcPath is removed.
//
// Linking instead of renaming means that a crash before step 4 leaves the
// source in place (so the upload can be published again) and at most an
// orphan bytes file, which Recover removes and a new publish replaces. If
// step 5 fails the image is published but an error is returned; publishing
// again dedupes and removes the source.
//
// Empty rec.URL becomes /i/<sha256>.<ext> (/i/<sha256> without Ext); zero
// rec.UploadedAt becomes the current time (UTC).
func (s *FS) PublishFile(ctx context.Context, srcPath string, rec Record) (Record, bool, error) {
	sha := rec.SHA256
	if !ValidSHA256(sha) {
		return Record{}, false, fmt.Errorf("contentstore: publish %q: %w", sha, ErrBadHash)
	}
	if err := ctx.Err(); err != nil {
		return Record{}, false, err
	}
	size, perm, err := syncSource(srcPath, !s.volatile)
	if err != nil {
		return Record{}, false, err
	}
	if rec.Size != 0 && rec.Size != size {
		return Record{}, false, fmt.Errorf("contentstore: publish %s: record size %d, file %s has %d bytes",
			sha, rec.Size, srcPath, size)
	}
	rec = withDefaults(rec, size)

	mu := s.lockFor(sha)
	mu.Lock()
	defer mu.Unlock()
	shardDir, blob, recPath := s.paths(sha)
	if err := s.ensureShard(shardDir); err != nil {
		return Record{}, false, err
	}
	if _, known := s.idx.lookup(sha); known {
		// Only then can a usable record exist: the index holds every
		// one (NewFS reads them all, publishing adds). Anything else on
		// disk under this hash is replaced below.
		old, found, err := s.existing(sha, blob, recPath)
		if err != nil {
			return Record{}, false, err
		}
		if found {
			if err := removeSource(srcPath); err != nil {
				return Record{}, false, err
			}
			s.log.Debug("contentstore.deduped", "sha256", sha)
			return old, true, nil
		}
	}
	if err := s.place(srcPath, perm, shardDir, blob, recPath, rec); err != nil {
		return Record{}, false, err
	}
	s.idx.add(sha, rec.UploadedAt)
	s.cache.put(sha, rec)
	s.log.Debug("contentstore.published", "sha256", sha, "size", size, "type", rec.Type)
	return rec, false, removeSource(srcPath)
}

// place does steps 3 and 4 of PublishFile, fsyncing the shard directory
// after each through one descriptor, opened once the bytes are linked in.
func (s *FS) place(src string, perm fs.FileMode, shardDir, blob, recPath string, rec Record) error {
	err := s.placeBytes(src, perm, blob)
	if errors.Is(err, fs.ErrNotExist) && !isDir(shardDir) { // removed behind our back
		s.shards.Delete(shardDir)
		if err = s.ensureShard(shardDir); err == nil {
			err = s.placeBytes(src, perm, blob)
		}
	}
	if err != nil {
		return err
	}
	dir, err := openDirSyncer(shardDir, !s.volatile)
	if err != nil {
		return err
	}
	defer dir.close()
	if err := dir.sync(); err != nil {
		return err
	}
	if s.PublishPause > 0 {
		time.Sleep(s.PublishPause)
	}
	if err := writeRecord(shardDir, recPath, rec, !s.volatile); err != nil {
		return err
	}
	return dir.sync()
}

// ensureShard creates shardDir (and its parent) unless it is known to
// exist: after the first publish into a shard, no system call.
func (s *FS) ensureShard(shardDir string) error {
	if _, ok := s.shards.Load(shardDir); ok {
		return nil
	}
	// Mostly only the last level is missing: one mkdir, not MkdirAll's
	// stat, stat of the parent and mkdir.
	err := os.Mkdir(shardDir, dirPerm)
	if errors.Is(err, fs.ErrExist) {
		err = nil
		if !isDir(shardDir) {
			err = fmt.Errorf("contentstore: %s is not a directory", shardDir)
		}
	} else if err != nil {
		err = os.MkdirAll(shardDir, dirPerm)
	}
	if err != nil {
		return fmt.Errorf("contentstore: create %s: %w", shardDir, err)
	}
	s.shards.Store(shardDir, struct{}{})
	return nil
}

func withDefaults(rec Record, size int64) Record {
	rec.Size = size
	if rec.UploadedAt.IsZero() {
		rec.UploadedAt = time.Now().UTC()
	}
	if rec.URL == "" {
		rec.URL = "/i/" + rec.SHA256
		if rec.Ext != "" {
			rec.URL += "." + rec.Ext
		}
	}
	return rec
}

// existing returns the stored record when sha is fully published. A record
// that is corrupt or whose bytes are missing is logged and reported absent,
// so that the publish in progress repairs it.
func (s *FS) existing(sha, blob, recPath string) (Record, bool, error) {
	rec, err := readRecord(recPath, sha)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Record{}, false, nil
	case errors.Is(err, errCorruptRecord):
		s.log.Warn("contentstore.record_corrupt", "sha256", sha, "err", err, "action", "overwrite")
		return Record{}, false, nil
	case err != nil:
		return Record{}, false, err
	}
	if _, err := os.Stat(blob); errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("contentstore.record_without_bytes", "sha256", sha, "action", "republish")
		return Record{}, false, nil
	} else if err != nil {
		return Record{}, false, fmt.Errorf("contentstore: stat %s: %w", blob, err)
	}
	s.idx.add(sha, rec.UploadedAt)
	return rec, true, nil
}

// placeBytes gives src (whose permission bits are perm) the name blob
// (see PublishFile, step 3); the caller fsyncs the directory.
func (s *FS) placeBytes(src string, perm fs.FileMode, blob string) error {
	err := s.linkInto(src, perm, blob)
	if err != nil && linkUnsupported(err) {
		s.log.Debug("contentstore.copy_fallback", "src", src, "err", err)
		err = s.copyInto(src, blob)
	}
	return err
}

func (s *FS) linkInto(src string, perm fs.FileMode, blob string) error {
	if perm != filePerm {
		if err := os.Chmod(src, filePerm); err != nil {
			return fmt.Errorf("contentstore: chmod %s: %w", src, err)
		}
	}
	err := s.link(src, blob)
	if errors.Is(err, fs.ErrExist) { // orphan bytes of an interrupted publish
		if rerr := os.Remove(blob); rerr != nil {
			return fmt.Errorf("contentstore: remove orphan %s: %w", blob, rerr)
		}
		err = s.link(src, blob)
	}
	if err != nil {
		return fmt.Errorf("contentstore: link %s: %w", blob, err)
	}
	return nil
}

// linkUnsupported reports whether a link (or the chmod before it) failed in
// a way that copying can work around.
func linkUnsupported(err error) bool {
	for _, e := range []error{syscall.EXDEV, syscall.EPERM, syscall.ENOTSUP,
		syscall.EOPNOTSUPP, syscall.EMLINK, syscall.ENOSYS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// copyInto copies src to a temp file in the root's temp directory, fsyncs it
// and renames it to blob.
func (s *FS) copyInto(src, blob string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("contentstore: open %s: %w", src, err)
	}
	defer in.Close()
	return writeAtomic(s.tmp, blob, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// writeRecord writes rec as JSON to path (in dir) through a temp file in
// dir: written, fsynced (with sync), renamed. The caller holds the hash's lock, so the
// temp name (.tmp-<sha256>.json, removed by Recover if a crash leaves it)
// is the publish's own. The caller fsyncs dir.
func writeRecord(dir, path string, rec Record, sync bool) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("contentstore: encode record %s: %w", rec.SHA256, err)
	}
	b = append(b, '\n')
	tmp := filepath.Join(dir, tmpPrefix+rec.SHA256+recordSuffix)
	err = writeFileSync(tmp, b, filePerm, sync)
	if err == nil {
		err = sysfile.Rename(tmp, path)
	}
	if err != nil {
		_ = sysfile.Unlink(tmp)
		return fmt.Errorf("contentstore: write %s: %w", path, err)
	}
	return nil
}

// writeAtomic creates a temp file (mode 0640) in tmpDir, fills it with fill,
// fsyncs it and renames it to path. On error the temp file is removed.
func writeAtomic(tmpDir, path string, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(tmpDir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("contentstore: create temp in %s: %w", tmpDir, err)
	}
	tmp := f.Name()
	err = fill(f)
	if err == nil {
		err = f.Chmod(filePerm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("contentstore: write %s: %w", path, err)
	}
	return nil
}

// isDir reports whether path is a directory.
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// removeSource removes a published or deduped source; a missing one is fine.
func removeSource(path string) error {
	if err := sysfile.Unlink(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("contentstore: remove source %s: %w", path, err)
	}
	return nil
}

// removeIfExists removes path; a missing path is not an error. It reports
// whether something was removed.
func removeIfExists(path string) (bool, error) {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("contentstore: remove %s: %w", path, err)
	}
	return true, nil
}
