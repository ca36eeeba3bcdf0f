//go:build unix

package contentstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/tusimg/tusimg/pkg/sysfile"
)

// The publish path works on raw file descriptors: os.Open of a regular file
// costs, on Linux, four fcntl calls and a failing epoll_ctl besides the
// open (the os package tries to register every file with the network
// poller), and os.Rename an extra lstat. A publish opens five files, so
// this is about a third of its system calls.

// sysOpen opens name with O_CLOEXEC, retrying on EINTR.
func sysOpen(name string, flag int, perm fs.FileMode) (int, error) {
	fd, err := sysfile.Open(name, flag, perm)
	return int(fd), err
}

// syncSource checks that path is a regular file (not a symlink: O_NOFOLLOW;
// opening never blocks: O_NONBLOCK, for a FIFO), fsyncs it and returns its
// size and permission bits. The checks apply to the file opened, not to a
// name that could be swapped between a check and the open.
//
// Without sync one lstat does: the link that follows goes by name anyway,
// so opening the file made the checks no safer, only the fsync possible.
func syncSource(path string, sync bool) (int64, fs.FileMode, error) {
	if !sync {
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			return 0, 0, fmt.Errorf("contentstore: publish source: %w", &fs.PathError{Op: "lstat", Path: path, Err: err})
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			return 0, 0, fmt.Errorf("contentstore: publish source %s: not a regular file", path)
		}
		return st.Size, fs.FileMode(st.Mode & 0o777), nil
	}
	fd, err := sysOpen(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return 0, 0, fmt.Errorf("contentstore: publish source %s: not a regular file", path)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("contentstore: publish source: %w", err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, 0, fmt.Errorf("contentstore: publish source %s: %w", path, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return 0, 0, fmt.Errorf("contentstore: publish source %s: not a regular file", path)
	}
	if sync {
		if err := fsync(fd); err != nil {
			return 0, 0, fmt.Errorf("contentstore: fsync %s: %w", path, err)
		}
	}
	return st.Size, fs.FileMode(st.Mode & 0o777), nil
}

func fsync(fd int) error {
	for {
		if err := syscall.Fsync(fd); err != syscall.EINTR {
			return err
		}
	}
}

// dirSyncer fsyncs one directory, possibly several times, through one
// descriptor (none when syncing is off: fd -1).
type dirSyncer struct {
	dir string
	fd  int
}

func openDirSyncer(dir string, sync bool) (dirSyncer, error) {
	if !sync {
		return dirSyncer{dir: dir, fd: -1}, nil
	}
	fd, err := sysOpen(dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return dirSyncer{}, fmt.Errorf("contentstore: open dir %s: %w", dir, err)
	}
	return dirSyncer{dir: dir, fd: fd}, nil
}

// sync makes the renames and links done in the directory so far durable.
func (d dirSyncer) sync() error {
	if d.fd < 0 {
		return nil
	}
	if err := fsync(d.fd); err != nil {
		return fmt.Errorf("contentstore: fsync dir %s: %w", d.dir, err)
	}
	return nil
}

func (d dirSyncer) close() {
	if d.fd >= 0 {
		_ = syscall.Close(d.fd)
	}
}

// writeFileSync creates (or truncates) path with mode perm (the umask may
// narrow it), writes b and, with sync, fsyncs it.
func writeFileSync(path string, b []byte, perm fs.FileMode, sync bool) error {
	fd, err := sysOpen(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err = sysfile.FD(fd).Write(b); err == nil && sync {
		err = fsync(fd)
	}
	if cerr := syscall.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return &fs.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

// openImage opens the stored image sha: a bare descriptor (fdObject)
// rather than an *os.File, which costs the read handler, on every GET, an
// fcntl, the file's allocations and its cleanup registration; and, where
// the system has openat, relative to the root's descriptor, so that the
// kernel walks ab/cd/<sha256> and not the whole path. A zero mod (a record
// without an upload time) is read from the file instead.
func (s *FS) openImage(sha string, mod time.Time) (Object, error) {
	if mod.IsZero() {
		return openFileObject(s.blobPath(sha), mod)
	}
	fd, err := openInRoot(s, sha)
	if err != nil {
		return nil, err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		_ = syscall.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: s.blobPath(sha), Err: err}
	}
	return &fdObject{fd: fd, size: st.Size, mod: mod}, nil
}

// fdObject is an open stored image on a bare, blocking descriptor. It must
// be closed: nothing closes it for a caller that forgets (every caller of
// FS.Open defers Close). It implements syscall.Conn, so net's sendfile path
// serves it as it would an *os.File.
type fdObject struct {
	fd     int
	size   int64
	mod    time.Time
	closed bool
}

var _ syscall.Conn = (*fdObject)(nil)

func (o *fdObject) Size() int64        { return o.size }
func (o *fdObject) ModTime() time.Time { return o.mod }

func (o *fdObject) Read(p []byte) (int, error) {
	if o.closed {
		return 0, os.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := syscall.Read(o.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, &fs.PathError{Op: "read", Path: "image", Err: err}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (o *fdObject) Seek(offset int64, whence int) (int64, error) {
	if o.closed {
		return 0, os.ErrClosed
	}
	pos, err := syscall.Seek(o.fd, offset, whence)
	if err != nil {
		return 0, &fs.PathError{Op: "seek", Path: "image", Err: err}
	}
	return pos, nil
}

func (o *fdObject) Close() error {
	if o.closed {
		return os.ErrClosed
	}
	o.closed = true
	return syscall.Close(o.fd)
}

// SyscallConn gives net's sendfile the descriptor.
func (o *fdObject) SyscallConn() (syscall.RawConn, error) {
	if o.closed {
		return nil, os.ErrClosed
	}
	return fdConn(o.fd), nil
}

// fdConn is the syscall.RawConn of a blocking regular file: an operation
// that is not done at once would wait forever, so it is an error, as it is
// for an *os.File of a regular file.
type fdConn int

var errWouldBlock = errors.New("contentstore: regular file operation not done")

func (c fdConn) Control(f func(fd uintptr)) error { f(uintptr(c)); return nil }

func (c fdConn) Read(f func(fd uintptr) bool) error {
	if !f(uintptr(c)) {
		return errWouldBlock
	}
	return nil
}

func (c fdConn) Write(f func(fd uintptr) bool) error {
	if !f(uintptr(c)) {
		return errWouldBlock
	}
	return nil
}
