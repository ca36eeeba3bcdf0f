//go:build !unix

// Package sysfile owns the few file operations the stores do on their hot
// paths; off Unix it is the os package.
package sysfile

import (
	"io/fs"
	"os"
)

// OpenFile is os.OpenFile.
func OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

// Rename is os.Rename.
func Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Unlink is os.Remove.
func Unlink(path string) error { return os.Remove(path) }

// FD is an open file (an *os.File off Unix).
type FD = *os.File

// Open is os.OpenFile.
func Open(name string, flag int, perm fs.FileMode) (FD, error) {
	return os.OpenFile(name, flag, perm)
}
