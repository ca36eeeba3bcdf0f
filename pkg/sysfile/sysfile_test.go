package sysfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestFD writes, appends and reads back a file through bare descriptors,
// and checks a missing file is fs.ErrNotExist.
func TestFD(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	for _, part := range [][]byte{[]byte("hello, "), bytes.Repeat([]byte("x"), 300<<10)} {
		f, err := Open(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := f.Write(part); n != len(part) || err != nil {
			t.Fatalf("write: %d, %v", n, err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Open(p, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	want := append([]byte("hello, "), bytes.Repeat([]byte("x"), 300<<10)...)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(want))
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode: %v, %v", fi, err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing"), os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
