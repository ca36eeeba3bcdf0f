package imagecheck

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/tusimg/tusimg/pkg/bench"
)

// BenchmarkFullDecodePNG compares the full decode of a 200 KiB PNG (the
// benchmark tool's kind: RGBA noise in stored deflate blocks) by png.Decode
// and by scanPNG.
func BenchmarkFullDecodePNG(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	w, h := 256, 200
	raw := make([]byte, 0, h*(1+4*w))
	for range h {
		row := make([]byte, 1+4*w)
		for i := 1; i < len(row); i++ {
			row[i] = byte(rng.Uint32())
		}
		raw = append(raw, row...)
	}
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.NoCompression)
	zw.Write(raw)
	zw.Close()
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 6
	img := cat([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr), pngChunk("IDAT", z.Bytes()), pngChunk("IEND", nil))
	for _, bc := range []struct {
		name string
		f    func([]byte) error
	}{{"png.Decode", decodeAccepts}, {"scanPNG", scanAccepts}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(img)))
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.f(img); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckUpload runs Check the way pre-finish does on a typical
// small upload: the benchmark tool's 200 KiB PNG, read from a file.
func BenchmarkCheckUpload(b *testing.B) {
	p, err := bench.NewPNG(200<<10, 1)
	if err != nil {
		b.Fatal(err)
	}
	data := p.Bytes()
	path := filepath.Join(b.TempDir(), "upload")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	c, err := New(DefaultPolicy())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Check(context.Background(), f, int64(len(data)), Meta{Filename: "x.png"}); err != nil {
			b.Fatal(err)
		}
	}
}
