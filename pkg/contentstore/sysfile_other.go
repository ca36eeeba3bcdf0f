//go:build !unix

package contentstore

import (
	"fmt"
	"io/fs"
	"os"
	"time"
)

// The portable versions of sysfile_unix.go's helpers.

func syncSource(path string, sync bool) (int64, fs.FileMode, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("contentstore: publish source: %w", err)
	}
	if !st.Mode().IsRegular() {
		return 0, 0, fmt.Errorf("contentstore: publish source %s: not a regular file", path)
	}
	if !sync {
		return st.Size(), st.Mode().Perm(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("contentstore: publish source: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, 0, fmt.Errorf("contentstore: fsync %s: %w", path, err)
	}
	return st.Size(), st.Mode().Perm(), nil
}

type dirSyncer struct {
	dir  string
	skip bool
}

func openDirSyncer(dir string, sync bool) (dirSyncer, error) {
	return dirSyncer{dir: dir, skip: !sync}, nil
}

func (d dirSyncer) sync() error {
	if d.skip {
		return nil
	}
	f, err := os.Open(d.dir)
	if err != nil {
		return fmt.Errorf("contentstore: open dir %s: %w", d.dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("contentstore: fsync dir %s: %w", d.dir, err)
	}
	return nil
}

func (d dirSyncer) close() {}

func writeFileSync(path string, b []byte, perm fs.FileMode, sync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *FS) openImage(sha string, mod time.Time) (Object, error) {
	return openFileObject(s.blobPath(sha), mod)
}

// inMemoryFS is known on Linux only: elsewhere publishing always fsyncs.
func inMemoryFS(string) bool { return false }
