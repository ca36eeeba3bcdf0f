package uploadstore

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"
)

// BenchmarkWriteChunk appends 256 KiB chunks to one upload on tmpfs (when
// the machine has /dev/shm), through tusd's filestore alone and through the
// Store wrapper (hashing, hash state, sniffing): the difference in allocs/op
// is what the wrapper costs per chunk.
func BenchmarkWriteChunk(b *testing.B) {
	chunk := bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 64<<10)
	for _, bc := range []struct {
		name string
		open func(b *testing.B, dir string) handler.DataStore
	}{
		{"filestore", func(b *testing.B, dir string) handler.DataStore { return filestore.New(dir) }},
		{"store", func(b *testing.B, dir string) handler.DataStore {
			s, err := New(Options{Dir: dir, SniffLen: 3072, Sniff: func([]byte) (string, error) { return "image/png", nil },
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			if d, err := os.MkdirTemp("/dev/shm", "tusimg-bench-"); err == nil {
				dir = d
				defer os.RemoveAll(d)
			}
			store := bc.open(b, dir)
			ctx := context.Background()
			up, err := store.NewUpload(ctx, handler.FileInfo{Size: 1 << 40})
			if err != nil {
				b.Fatal(err)
			}
			info, _ := up.GetInfo(ctx)
			r := bytes.NewReader(chunk)
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			var off int64
			for b.Loop() {
				// A request gets its upload from GetUpload, as tusd does.
				up, err := store.GetUpload(ctx, info.ID)
				if err != nil {
					b.Fatal(err)
				}
				r.Reset(chunk)
				n, err := up.WriteChunk(ctx, off, r)
				if err != nil || n != int64(len(chunk)) {
					b.Fatal(n, err)
				}
				off += n
			}
		})
	}
}
