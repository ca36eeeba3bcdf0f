package contentstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Report counts what Recover found and did.
type Report struct {
	// Images is the number of intact published images (bytes + usable record
	// of the right size).
	Images int `json:"images"`
	// OrphanBytes counts bytes files without a record, removed. They are
	// left by a publish interrupted before its record was written; its
	// source file still exists (PublishFile links, it does not move).
	OrphanBytes int `json:"orphan_bytes"`
	// MissingBytes counts records whose bytes file was missing, removed.
	MissingBytes int `json:"missing_bytes"`
	// Corrupt counts records that could not be parsed, named another hash
	// or disagreed with their bytes file's size; record and bytes were
	// removed, since a half image must never be served under a valid hash.
	Corrupt int `json:"corrupt"`
	// TempFiles counts stray temp files removed (shard dirs and root/.tmp/).
	TempFiles int `json:"temp_files"`
}

// Recover repairs the store after a crash and returns what it did:
//
//   - temp files (root/.tmp/* and ab/cd/.tmp-*) are removed;
//   - bytes files without a record are removed: a record cannot be rebuilt
//     without the image facts the checker produced, and the source of an
//     interrupted publish is still in place to be published again;
//   - records without bytes are removed;
//   - corrupt records (unparsable, wrong hash, size different from the
//     bytes file) are removed together with their bytes.
//
// Bytes are not re-hashed: that would read the whole store at every start,
// and publish already makes a wrong name impossible short of disk failure.
// Recover walks the whole tree (O(n) in stored images). It must be called
// before the store is used for publishing, typically right after NewFS: it
// does not coordinate with a concurrent PublishFile. I/O errors abort it.
func (s *FS) Recover(ctx context.Context) (Report, error) {
	var rep Report
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	n, err := removeAll(s.tmp)
	rep.TempFiles += n
	if err != nil {
		return rep, err
	}
	err = s.walk(ctx, func(sh shard) error { return s.recoverShard(sh, &rep) })
	if err != nil {
		return rep, err
	}
	s.log.Info("contentstore.recovered", "images", rep.Images, "orphan_bytes", rep.OrphanBytes,
		"missing_bytes", rep.MissingBytes, "corrupt", rep.Corrupt, "temp_files", rep.TempFiles)
	return rep, nil
}

// recoverShard applies Recover's rules to one shard directory.
func (s *FS) recoverShard(sh shard, rep *Report) error {
	for _, name := range sh.temps {
		if ok, err := removeIfExists(filepath.Join(sh.dir, name)); err != nil {
			return err
		} else if ok {
			rep.TempFiles++
		}
	}
	for _, sha := range sh.records {
		keep, err := s.recoverRecord(sh, sha, rep)
		if err != nil {
			return err
		}
		if keep {
			rep.Images++
		}
		delete(sh.blobs, sha) // handled; what remains are orphans
	}
	for sha := range sh.blobs {
		s.log.Warn("contentstore.orphan_removed", "sha256", sha)
		if ok, err := removeIfExists(filepath.Join(sh.dir, sha)); err != nil {
			return err
		} else if ok {
			rep.OrphanBytes++
		}
	}
	return nil
}

// recoverRecord checks one record against its bytes, removing both when they
// do not form a published image. It reports whether the image is intact.
func (s *FS) recoverRecord(sh shard, sha string, rep *Report) (bool, error) {
	blob := filepath.Join(sh.dir, sha)
	recPath := blob + recordSuffix
	rec, reason := readRecord(recPath, sha)
	corrupt := errors.Is(reason, errCorruptRecord)
	if reason != nil && !corrupt {
		return false, reason
	}
	missing := !sh.blobs[sha]
	if !corrupt && !missing {
		st, err := os.Stat(blob)
		if err != nil {
			return false, fmt.Errorf("contentstore: stat %s: %w", blob, err)
		}
		if st.Size() == rec.Size {
			return true, nil
		}
		corrupt = true
		reason = fmt.Errorf("record size %d, bytes file %d", rec.Size, st.Size())
	}
	// Unpublish first (record), then drop the bytes.
	s.idx.remove(sha)
	s.cache.remove(sha)
	if _, err := removeIfExists(recPath); err != nil {
		return false, err
	}
	if _, err := removeIfExists(blob); err != nil {
		return false, err
	}
	if corrupt {
		s.log.Warn("contentstore.corrupt_removed", "sha256", sha, "err", reason)
		rep.Corrupt++
	} else {
		s.log.Warn("contentstore.record_without_bytes_removed", "sha256", sha)
		rep.MissingBytes++
	}
	return false, nil
}

// removeAll empties dir (not recursing into subdirectories, which FS never
// creates there) and returns how many files it removed.
func removeAll(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("contentstore: read %s: %w", dir, err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		ok, err := removeIfExists(filepath.Join(dir, e.Name()))
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}
