package contentstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// shard is what one leaf directory (root/ab/cd) holds, by kind.
type shard struct {
	dir     string
	blobs   map[string]bool // hashes with a bytes file
	records []string        // hashes with a record file
	temps   []string        // names of stray temp files
}

// isShardName reports whether name is two lowercase hex characters.
func isShardName(name string) bool {
	return len(name) == 2 && ValidSHA256(strings.Repeat(name, 32))
}

// walk calls fn for every shard directory under the root, in lexical order.
// Names that are not part of the layout are ignored. It checks ctx between
// shards.
func (s *FS) walk(ctx context.Context, fn func(sh shard) error) error {
	top, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("contentstore: read %s: %w", s.dir, err)
	}
	for _, a := range top {
		if !a.IsDir() || !isShardName(a.Name()) {
			continue
		}
		mid := filepath.Join(s.dir, a.Name())
		subs, err := os.ReadDir(mid)
		if err != nil {
			return fmt.Errorf("contentstore: read %s: %w", mid, err)
		}
		for _, b := range subs {
			if !b.IsDir() || !isShardName(b.Name()) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			sh, err := readShard(filepath.Join(mid, b.Name()), a.Name()+b.Name())
			if err != nil {
				return err
			}
			if err := fn(sh); err != nil {
				return err
			}
		}
	}
	return nil
}

// readShard lists dir, whose hashes must start with prefix.
func readShard(dir, prefix string) (shard, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return shard{}, fmt.Errorf("contentstore: read %s: %w", dir, err)
	}
	sh := shard{dir: dir, blobs: make(map[string]bool, len(entries)/2)}
	for _, e := range entries {
		name := e.Name()
		switch {
		case !e.Type().IsRegular():
		case strings.HasPrefix(name, tmpPrefix):
			sh.temps = append(sh.temps, name)
		case !strings.HasPrefix(name, prefix):
		case ValidSHA256(name):
			sh.blobs[name] = true
		case strings.HasSuffix(name, recordSuffix) && ValidSHA256(strings.TrimSuffix(name, recordSuffix)):
			sh.records = append(sh.records, strings.TrimSuffix(name, recordSuffix))
		}
	}
	return sh, nil
}

// buildIndex reads every record whose bytes exist. Unusable records are
// logged and left out; I/O errors abort.
func (s *FS) buildIndex(ctx context.Context) (*index, error) {
	var entries []entry
	err := s.walk(ctx, func(sh shard) error {
		for _, sha := range sh.records {
			if !sh.blobs[sha] {
				s.log.Warn("contentstore.record_without_bytes", "sha256", sha)
				continue
			}
			rec, err := readRecord(filepath.Join(sh.dir, sha+recordSuffix), sha)
			if errors.Is(err, errCorruptRecord) {
				s.log.Warn("contentstore.record_corrupt", "sha256", sha, "err", err)
				continue
			}
			if err != nil {
				return err
			}
			k, _ := keyOf(sha)
			entries = append(entries, entry{at: stampOf(rec.UploadedAt), sha: k})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return newIndex(entries), nil
}
