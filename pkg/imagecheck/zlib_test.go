package imagecheck

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"hash/adler32"
	"io"
	"math/rand/v2"
	"testing"
)

// TestAdler32Update compares adler32Update with hash/adler32 on lengths
// around the group size, split at random points, and on all-0xff data (the
// largest lane sums).
func TestAdler32Update(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range 2000 {
		n := rng.IntN(3000)
		if i%4 == 0 {
			n = rng.IntN(300 << 10)
		}
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if i%5 == 0 {
			for j := range b {
				b[j] = 0xff
			}
		}
		want := adler32.Checksum(b)
		if got := adler32Update(1, b); got != want {
			t.Fatalf("%d bytes: %08x, want %08x", n, got, want)
		}
		if got := adler32Generic(1, b); got != want {
			t.Fatalf("%d bytes, generic: %08x, want %08x", n, got, want)
		}
		if i%7 == 0 { // start from a large s1 and s2: the vector lanes' worst case
			pre := bytes.Repeat([]byte{0xff}, 5000+rng.IntN(552))
			want := adler32.Checksum(append(bytes.Clone(pre), b...))
			if got := adler32Update(adler32.Checksum(pre), b); got != want {
				t.Fatalf("%d bytes after %d: %08x, want %08x", n, len(pre), got, want)
			}
		}
		k := rng.IntN(n + 1)
		if got := adler32Update(adler32Update(1, b[:k]), b[k:]); got != want {
			t.Fatalf("%d bytes split at %d: %08x, want %08x", n, k, got, want)
		}
	}
}

// TestZlibReaderMatches reads valid and damaged zlib streams with
// zlibReader and with compress/zlib: same bytes, same error.
func TestZlibReaderMatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var z zlibReader
	for i := range 3000 {
		raw := make([]byte, rng.IntN(70000))
		for j := range raw {
			raw[j] = byte(rng.IntN(1 + rng.IntN(256)))
		}
		var buf bytes.Buffer
		zw, _ := zlib.NewWriterLevel(&buf, rng.IntN(10)-1)
		zw.Write(raw)
		zw.Close()
		b := buf.Bytes()
		switch i % 4 {
		case 1:
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		case 2:
			b = b[:rng.IntN(len(b)+1)]
		case 3:
			b = append(b, byte(rng.Uint32()))
		}
		want, wantErr := readStd(b)
		got, gotErr := readOurs(&z, b)
		if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("case %d: %d bytes %v, want %d bytes %v", i, len(got), gotErr, len(want), wantErr)
		}
	}
}

func readStd(b []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func readOurs(z *zlibReader, b []byte) ([]byte, error) {
	if err := z.reset(bufio.NewReader(bytes.NewReader(b))); err != nil {
		return nil, err
	}
	return io.ReadAll(z)
}

// BenchmarkAdler32 runs the Adler-32 of pngscan (with AVX2 where the CPU
// has it), the portable one and hash/adler32 over 200 KiB in PNG rows of
// 905 bytes, the way pngscan calls it for the benchmark tool's images.
func BenchmarkAdler32(b *testing.B) {
	data := make([]byte, 200<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, bc := range []struct {
		name string
		f    func(uint32, []byte) uint32
	}{
		{"update", adler32Update},
		{"generic", adler32Generic},
		{"hash-adler32", func(_ uint32, p []byte) uint32 { return adler32.Checksum(p) }}, // per row: a speed yardstick
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				a := uint32(1)
				for p := data; len(p) > 0; {
					n := min(len(p), 905)
					a = bc.f(a, p[:n])
					p = p[n:]
				}
			}
		})
	}
}
