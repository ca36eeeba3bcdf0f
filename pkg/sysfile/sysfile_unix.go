//go:build unix

// Package sysfile owns the few file operations the stores do on their hot
// paths, done in fewer system calls than the os package: on Linux,
// os.OpenFile of a regular file also costs four fcntl calls and a failing
// epoll_ctl (the network poller), os.Rename an extra lstat, and os.Remove an
// rmdir after a failed unlink. Behaviour is otherwise that of the os
// package. Elsewhere than on Unix it is the os package.
package sysfile

import (
	"io"
	"io/fs"
	"os"
	"syscall"
)

// OpenFile is os.OpenFile without registering the file with the network
// poller. Reads and writes of the result are plain blocking system calls,
// as they are for any regular file.
func OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	fd, err := Open(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
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

// FD is an open file as a bare descriptor: unlike an *os.File it costs no
// fcntl at open (os.NewFile asks for the flags) and no finalizer, which a
// file that lives for one write does not need. Close it exactly once.
type FD int

// Open opens name like OpenFile, returning a bare descriptor.
func Open(name string, flag int, perm fs.FileMode) (FD, error) {
	for {
		fd, err := syscall.Open(name, flag|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err == nil {
			return FD(fd), nil
		}
		if err != syscall.EINTR {
			return -1, &fs.PathError{Op: "open", Path: name, Err: err}
		}
	}
}

// Write writes all of b (it repeats partial writes, as os.File does). Its
// errors are bare syscall.Errno values.
func (f FD) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := syscall.Write(int(f), b[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.ErrUnexpectedEOF
		}
		n += m
	}
	return n, nil
}

// Read reads up to len(b) bytes; at the end of the file it returns io.EOF.
func (f FD) Read(b []byte) (int, error) {
	for {
		n, err := syscall.Read(int(f), b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 && len(b) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// Close closes the descriptor.
func (f FD) Close() error {
	return syscall.Close(int(f))
}
