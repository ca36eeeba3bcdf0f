package contentstore

import (
	"io/fs"
	"runtime"
	"syscall"
)

// openInRoot opens image sha for reading relative to the store's root
// descriptor: the kernel walks ab/cd/<sha256> only.
func openInRoot(s *FS, sha string) (int, error) {
	rel := sha[0:2] + "/" + sha[2:4] + "/" + sha
	for {
		fd, err := syscall.Openat(s.rootFD, rel, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		runtime.KeepAlive(s.root) // rootFD is valid while root is
		if err == nil {
			return fd, nil
		}
		if err != syscall.EINTR {
			return -1, &fs.PathError{Op: "open", Path: s.blobPath(sha), Err: err}
		}
	}
}

// inMemoryFS reports whether dir is on tmpfs or ramfs.
func inMemoryFS(dir string) bool {
	const tmpfsMagic, ramfsMagic = 0x01021994, 0x858458f6
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return false
	}
	return st.Type == tmpfsMagic || st.Type == ramfsMagic
}
