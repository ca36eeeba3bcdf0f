package contentstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/s3test"
	"github.com/tusimg/tusimg/pkg/contentstore"
	"github.com/tusimg/tusimg/pkg/s3blob"
	"github.com/tusimg/tusimg/pkg/serve"
)

func benchS3Store(b *testing.B) *contentstore.S3 {
	srv := s3test.Start(b)
	s, err := contentstore.NewS3(srv.Client, s3blob.Options{Bucket: srv.Bucket, Prefix: "bench/"}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// writeBenchSource writes data (made unique by i) to a file and returns its
// path and the record to publish it with.
func writeBenchSource(b *testing.B, dir string, data []byte, i uint64) (string, contentstore.Record) {
	binary.LittleEndian.PutUint64(data, i)
	src := filepath.Join(dir, fmt.Sprint("src-", i))
	if err := os.WriteFile(src, data, 0o640); err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return src, contentstore.Record{SHA256: hex.EncodeToString(sum[:]), Type: "image/png", Ext: "png"}
}

// BenchmarkS3PublishFile publishes distinct files to versitygw on loopback;
// writing each source file is not timed. 64 MiB is one PutObject (the
// threshold), 96 MiB a multipart upload (8 MiB parts, 4 in flight).
func BenchmarkS3PublishFile(b *testing.B) {
	for _, size := range []int{200 << 10, 64 << 20, 96 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			s := benchS3Store(b)
			dir := b.TempDir()
			data := randomBytes(size)
			b.SetBytes(int64(size))
			var i uint64
			for b.Loop() {
				b.StopTimer()
				i++
				src, rec := writeBenchSource(b, dir, data, i)
				b.StartTimer()
				if _, _, err := s.PublishFile(context.Background(), src, rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkServe serves one image through pkg/serve's handler from each
// store (FS, S3, S3 with the disk cache): a full GET of 200 KiB, a 1 KiB
// range of an 8 MiB image, and a 304.
func BenchmarkServe(b *testing.B) {
	s3Store := benchS3Store(b)
	dir := b.TempDir()
	cached := benchS3Store(b)
	if err := cached.UseDiskCache(filepath.Join(dir, "cache"), 64<<20); err != nil {
		b.Fatal(err)
	}
	fsStore, err := contentstore.NewFS(filepath.Join(dir, "images"), nil)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		size int
		hdr  func(sha string) http.Header
	}{
		{"full-200KiB", 200 << 10, func(string) http.Header { return nil }},
		{"range-1KiB-of-8MiB", 8 << 20, func(string) http.Header { return http.Header{"Range": {"bytes=4096-5119"}} }},
		{"304", 200 << 10, func(sha string) http.Header { return http.Header{"If-None-Match": {`"` + sha + `"`}} }},
	}
	for _, store := range []struct {
		name string
		s    contentstore.Store
	}{{"fs", fsStore}, {"s3", s3Store}, {"s3+disk", cached}} {
		ts := httptest.NewServer(serve.New(store.s, serve.Options{}, nil))
		b.Cleanup(ts.Close)
		for i, c := range cases {
			src, rec := writeBenchSource(b, dir, randomBytes(c.size), uint64(i))
			rec.UploadedAt = time.Now()
			if _, _, err := store.s.PublishFile(context.Background(), src, rec); err != nil {
				b.Fatal(err)
			}
			b.Run(store.name+"/"+c.name, func(b *testing.B) {
				req, _ := http.NewRequest(http.MethodGet, ts.URL+"/i/"+rec.SHA256, nil)
				if resp, err := ts.Client().Get(req.URL.String()); err == nil { // fills a disk cache
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				req.Header = c.hdr(rec.SHA256)
				for b.Loop() {
					resp, err := ts.Client().Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode >= 400 {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
		}
	}
}
