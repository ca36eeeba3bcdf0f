//go:build unix

package uploadstore

import (
	"io/fs"
	"os"
	"syscall"
)

// openFile is os.OpenFile without the attempt to register the file with the
// network poller, which on Linux costs four fcntl calls and a failing
// epoll_ctl per regular file. Reads and writes of the result are plain
// blocking system calls, as they are for any regular file.
func openFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	for {
		fd, err := syscall.Open(name, flag|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err == nil {
			return os.NewFile(uintptr(fd), name), nil
		}
		if err != syscall.EINTR {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
	}
}

// rename is os.Rename without its lstat of newpath (which only refuses to
// replace a directory; rename(2) refuses that too).
func rename(oldpath, newpath string) error {
	if err := syscall.Rename(oldpath, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// unlink removes a file (not a directory) in one system call; os.Remove
// tries rmdir as well when unlink fails, e.g. for a file that is gone.
func unlink(path string) error {
	if err := syscall.Unlink(path); err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	return nil
}
