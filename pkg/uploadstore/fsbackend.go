package uploadstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tusimg/tusimg/pkg/sysfile"
)

// fsBackend keeps uploads in a local directory through tusd's filestore,
// with side records as files beside them: <id>, <id>.info (tusd), <id>.hash,
// <id>.outcome (ours).
type fsBackend struct {
	store *fsStore
	dir   string
	perm  fs.FileMode
}

func newFSBackend(dir string) (*fsBackend, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("uploadstore: create %s: %w", dir, err)
	}
	b := &fsBackend{dir: dir, perm: 0o640}
	b.store = &fsStore{dir: dir, perm: b.perm, path: b.path}
	return b, nil
}

func (b *fsBackend) core() handler.DataStore                         { return b.store }
func (b *fsBackend) terminater() handler.TerminaterDataStore         { return b.store }
func (b *fsBackend) lengthDeferrer() handler.LengthDeferrerDataStore { return b.store }
func (b *fsBackend) validID(id string) bool                          { return validID.MatchString(id) }
func (b *fsBackend) path(id, ext string) string                      { return filepath.Join(b.dir, id+ext) }
func (b *fsBackend) dataSource(id string) DataSource                 { return DataSource{Path: b.path(id, "")} }

func (b *fsBackend) getSide(ctx context.Context, id, ext string) ([]byte, time.Time, error) {
	f, err := sysfile.OpenFile(b.path(id, ext), os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, time.Time{}, errNoSide
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("uploadstore: open %s%s: %w", id, ext, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("uploadstore: stat %s%s: %w", id, ext, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("uploadstore: read %s%s: %w", id, ext, err)
	}
	return data, fi.ModTime(), nil
}

func (b *fsBackend) putSide(ctx context.Context, id, ext string, data []byte, mode sideMode) error {
	final := b.path(id, ext)
	if mode == sideInPlace { // a torn write leaves an unparsable record, treated as absent
		if err := writeFile(final, data, b.perm); err != nil {
			return fmt.Errorf("uploadstore: write %s%s: %w", id, ext, err)
		}
		return nil
	}
	tmp := final + ".tmp"
	err := writeFile(tmp, data, b.perm)
	if err == nil {
		err = sysfile.Rename(tmp, final)
	}
	if err != nil {
		_ = sysfile.Unlink(tmp)
		return fmt.Errorf("uploadstore: write %s%s: %w", id, ext, err)
	}
	return nil
}

// writeFile creates or truncates path and writes data.
func writeFile(path string, data []byte, perm fs.FileMode) error {
	f, err := sysfile.Open(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (b *fsBackend) delSide(ctx context.Context, id, ext string) error {
	if err := sysfile.Unlink(b.path(id, ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("uploadstore: remove %s%s: %w", id, ext, err)
	}
	return nil
}

func (b *fsBackend) listSide(ctx context.Context, ext string) ([]sideEntry, error) {
	paths, err := filepath.Glob(filepath.Join(b.dir, "*"+ext))
	if err != nil {
		return nil, fmt.Errorf("uploadstore: list %s: %w", ext, err)
	}
	out := make([]sideEntry, 0, len(paths))
	for _, p := range paths {
		id := strings.TrimSuffix(filepath.Base(p), ext)
		if fi, err := os.Stat(p); err == nil && b.validID(id) {
			out = append(out, sideEntry{ID: id, ModTime: fi.ModTime()})
		}
	}
	return out, nil
}

func (b *fsBackend) sessionsByHash() bool { return false }

func (b *fsBackend) sessions(ctx context.Context) ([]string, error) {
	entries, err := b.listSide(ctx, extInfo)
	return idsOf(entries), err
}

func (b *fsBackend) openData(ctx context.Context, id string, size int64, complete bool) (io.ReaderAt, io.Closer, error) {
	f, err := sysfile.OpenFile(b.path(id, ""), os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("uploadstore: open data: %w", err)
	}
	return f, f, nil
}

func (b *fsBackend) removeData(ctx context.Context, id string, published bool) error {
	b.store.forget(id)
	var errs []error
	for _, ext := range []string{"", extInfo} {
		if ext == "" && published {
			continue // publishing moved it (contentstore.FS.PublishFile)
		}
		if err := sysfile.Unlink(b.path(id, ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (b *fsBackend) canTruncate() bool { return true }

func (b *fsBackend) truncate(ctx context.Context, id string, size int64) error {
	if err := os.Truncate(b.path(id, ""), size); err != nil {
		return fmt.Errorf("uploadstore: truncate: %w", err)
	}
	return nil
}

func (b *fsBackend) lastWrite(ctx context.Context, id string) (time.Time, bool) {
	fi, err := os.Stat(b.path(id, ""))
	if err != nil {
		return time.Time{}, false
	}
	return fi.ModTime(), true
}

// start writes the run marker; a marker left behind means the previous
// process died without closing the store.
func (b *fsBackend) start() (bool, error) {
	marker := filepath.Join(b.dir, runMarker)
	_, err := os.Stat(marker)
	clean := errors.Is(err, os.ErrNotExist)
	if err := os.WriteFile(marker, nil, b.perm); err != nil {
		return clean, fmt.Errorf("uploadstore: write run marker: %w", err)
	}
	return clean, nil
}

func (b *fsBackend) stop() error { return os.Remove(filepath.Join(b.dir, runMarker)) }

func (b *fsBackend) ready(ctx context.Context) error {
	f, err := os.CreateTemp(b.dir, ".ready-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// orphanData removes data files whose session has no info file (a crash
// between tusd's two creates).
func (b *fsBackend) orphanData(live map[string]bool) int {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if id := e.Name(); b.validID(id) && !live[id] && os.Remove(b.path(id, "")) == nil {
			n++
		}
	}
	return n
}
