package s3blob

import (
	"context"
	"io"
	"testing"

	"github.com/tusimg/tusimg/internal/s3test"
)

// BenchmarkRangedGet measures one ranged GET of 1 KiB from an 8 MiB object
// on loopback versitygw: bounded (bytes=a-b, the connection is reused) and
// open-ended then closed after 1 KiB (the connection is dropped).
func BenchmarkRangedGet(b *testing.B) {
	srv := s3test.Start(b)
	put(b, srv, "obj", randomData(8<<20))
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		n    int64
	}{{"bounded", 1024}, {"open-ended", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 1024)
			for b.Loop() {
				body, err := OpenRange(ctx, srv.Client, srv.Bucket, "obj", 4096, bc.n)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(body, buf); err != nil {
					b.Fatal(err)
				}
				body.Close()
			}
		})
	}
	b.Run("readerat-1MiB-blocks-4KiB-reads", func(b *testing.B) {
		buf := make([]byte, 4096)
		b.SetBytes(8 << 20)
		for b.Loop() {
			ra := NewReaderAt(ctx, srv.Client, srv.Bucket, "obj", 8<<20, ReaderAtOptions{})
			r := io.NewSectionReader(ra, 0, ra.Size())
			if _, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, r, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
