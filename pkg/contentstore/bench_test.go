package contentstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkPublishFile publishes distinct 200 KiB files; creating each source
// file is not timed. The figure is dominated by the three fsyncs (source,
// shard directory after link, record + directory).
func BenchmarkPublishFile(b *testing.B) {
	s, base := testStore(b)
	data := make([]byte, 200<<10)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		b.StopTimer()
		i++
		binary.LittleEndian.PutUint64(data, i)
		src, sha := writeSource(b, base, data)
		b.StartTimer()
		if _, _, err := s.PublishFile(ctx, src, pngRecord(sha)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet measures Get of 1000 stored images, from parallel goroutines,
// with the record cache (the read handler's path) and without (cache of 1).
func BenchmarkGet(b *testing.B) {
	s, base := testStore(b)
	var shas []string
	for i := range 1000 {
		src, sha := writeSource(b, base, fmt.Appendf(nil, "img %d", i))
		rec := pngRecord(sha)
		rec.UploadedAt = time.Unix(int64(i), 0)
		if _, _, err := s.PublishFile(context.Background(), src, rec); err != nil {
			b.Fatal(err)
		}
		shas = append(shas, sha)
	}
	for _, bc := range []struct {
		name  string
		cache int
	}{{"cached", cacheRecords}, {"uncached", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			s.cache = newRecordCache(bc.cache)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				i := rand.IntN(len(shas))
				for pb.Next() {
					i = (i + 1) % len(shas)
					if _, err := s.Get(ctx, shas[i]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
