//go:build unix

// Package sysfile owns the few file operations the stores do on their hot
// paths, done in fewer system calls than the os package: on Linux,
// os.OpenFile of a regular file also costs four fcntl calls and a failing
// epoll_ctl (the network poller), os.Rename an extra lstat, and os.Remove an
// rmdir after a failed unlink. Behaviour is otherwise that of the os
// package. Elsewhere than on Unix it is the os package.
package sysfile

import (
	"io/fs"
	"os"
	"syscall"
)

// OpenFile is os.OpenFile without registering the file with the network
// poller. Reads and writes of the result are plain blocking system calls,
// as they are for any regular file.
func OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
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

// Rename is os.Rename without its lstat of newpath (which only refuses to
// replace a directory; rename(2) refuses that too).
func Rename(oldpath, newpath string) error {
	if err := syscall.Rename(oldpath, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// Unlink removes a file (not a directory) in one system call.
func Unlink(path string) error {
	if err := syscall.Unlink(path); err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	return nil
}
