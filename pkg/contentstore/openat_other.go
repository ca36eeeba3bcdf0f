//go:build unix && !linux

package contentstore

import "syscall"

// openInRoot opens image sha for reading by its whole path: the syscall
// package has openat only on Linux.
func openInRoot(s *FS, sha string) (int, error) {
	return sysOpen(s.blobPath(sha), syscall.O_RDONLY, 0)
}

// inMemoryFS is known on Linux only: elsewhere publishing always fsyncs.
func inMemoryFS(string) bool { return false }
