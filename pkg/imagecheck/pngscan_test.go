package imagecheck

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// decodeAccepts and scanAccepts run png.Decode and scanPNG the way
// decodeFull runs a decoder (guard's buffered reader, panics recovered).
func decodeAccepts(b []byte) error {
	return guard(bytes.NewReader(b), func(r io.Reader) error {
		_, err := png.Decode(r)
		return err
	})
}

func scanAccepts(b []byte) error {
	return guard(bytes.NewReader(b), func(r io.Reader) error {
		_, _, err := scanPNG(r)
		return err
	})
}

// sameVerdict fails t unless scanPNG and png.Decode both accept b or both
// reject it.
func sameVerdict(t *testing.T, name string, b []byte) {
	t.Helper()
	if !smallIHDR(b) {
		return
	}
	derr, serr := decodeAccepts(b), scanAccepts(b)
	if (derr == nil) != (serr == nil) {
		t.Fatalf("%s (%d bytes): png.Decode says %v, scanPNG says %v", name, len(b), derr, serr)
	}
}

// smallIHDR reports whether every IHDR in b declares a small image. In
// Check, decodes only run after the header's dimensions passed the limits;
// without them png.Decode would allocate whatever a mutated IHDR says.
func smallIHDR(b []byte) bool {
	for i := 0; ; {
		k := bytes.Index(b[i:], []byte("IHDR"))
		if k < 0 {
			return true
		}
		i += k + 4
		if i+8 > len(b) {
			return true
		}
		w, h := uint64(binary.BigEndian.Uint32(b[i:])), uint64(binary.BigEndian.Uint32(b[i+4:]))
		if w > 1<<16 || h > 1<<16 || w*h > 1<<22 {
			return false
		}
	}
}

// pngCorpus returns valid PNGs of every bit depth and color type image/png
// reads, interlaced and not, with and without tRNS, in one or many IDATs.
func pngCorpus(t testing.TB, rng *rand.Rand) map[string][]byte {
	out := map[string][]byte{}
	for _, m := range []image.Image{
		image.NewGray(image.Rect(0, 0, 7, 5)), image.NewGray16(image.Rect(0, 0, 3, 9)),
		image.NewRGBA(image.Rect(0, 0, 17, 3)), image.NewNRGBA(image.Rect(0, 0, 5, 5)),
		image.NewRGBA64(image.Rect(0, 0, 4, 6)), image.NewNRGBA64(image.Rect(0, 0, 9, 2)),
		image.NewPaletted(image.Rect(0, 0, 13, 4), color.Palette{color.Black, color.White}),
		image.NewPaletted(image.Rect(0, 0, 6, 6), grayPalette(200)),
	} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
		out[typeString(m)] = buf.Bytes()
	}
	for _, ct := range []struct{ depth, colorType byte }{{1, 0}, {2, 0}, {4, 0}, {8, 0}, {16, 0}, {8, 2}, {16, 2},
		{1, 3}, {2, 3}, {4, 3}, {8, 3}, {8, 4}, {16, 4}, {8, 6}, {16, 6}} {
		for _, interlace := range []byte{0, 1} {
			w, h := 1+rng.IntN(19), 1+rng.IntN(19)
			name := "raw_d" + string('0'+rune(ct.depth%10)) + "_c" + string('0'+rune(ct.colorType)) + "_i" + string('0'+rune(interlace))
			out[name] = buildPNG(rng, w, h, ct.depth, ct.colorType, interlace, rawRows(rng, w, h, ct.depth, ct.colorType, interlace), 1+rng.IntN(3))
		}
	}
	entries, err := os.ReadDir(testdataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".png") {
			if b, err := os.ReadFile(filepath.Join(testdataDir, e.Name())); err == nil && len(b) < 1<<20 {
				out[e.Name()] = b
			}
		}
	}
	return out
}

func grayPalette(n int) color.Palette {
	p := make(color.Palette, n)
	for i := range p {
		p[i] = color.Gray{Y: uint8(i)}
	}
	return p
}

func typeString(m image.Image) string {
	switch m.(type) {
	case *image.Gray:
		return "gray"
	case *image.Gray16:
		return "gray16"
	case *image.RGBA:
		return "rgba"
	case *image.NRGBA:
		return "nrgba"
	case *image.RGBA64:
		return "rgba64"
	case *image.NRGBA64:
		return "nrgba64"
	}
	return "paletted" + string('0'+rune(len(m.(*image.Paletted).Palette)%10))
}

// rawRows returns the filtered scanlines of a w x h image: random filter
// types 0-4 and random bytes, pass after pass when interlaced.
func rawRows(rng *rand.Rand, w, h int, depth, colorType, interlace byte) []byte {
	bpp := pngBitsPerPixel(int(depth), int(colorType))
	var raw []byte
	passes := [][4]int{{1, 1, 0, 0}}
	if interlace == 1 {
		passes = adam7[:]
	}
	for _, p := range passes {
		pw, ph := (w-p[2]+p[0]-1)/p[0], (h-p[3]+p[1]-1)/p[1]
		if pw == 0 || ph == 0 {
			continue
		}
		for range ph {
			row := make([]byte, 1+(bpp*pw+7)/8)
			for i := range row {
				row[i] = byte(rng.Uint32())
			}
			row[0] = byte(rng.IntN(5))
			raw = append(raw, row...)
		}
	}
	return raw
}

// buildPNG assembles a PNG around raw (compressed with zlib) in idats IDAT
// chunks, with a PLTE for paletted images and sometimes a tRNS.
func buildPNG(rng *rand.Rand, w, h int, depth, colorType, interlace byte, raw []byte, idats int) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9], ihdr[12] = depth, colorType, interlace
	b := cat([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr))
	if colorType == 3 {
		n := min(1<<depth, 1+rng.IntN(256))
		b = cat(b, pngChunk("PLTE", make([]byte, 3*n)))
	}
	if rng.IntN(2) == 0 {
		switch colorType {
		case 0:
			b = cat(b, pngChunk("tRNS", []byte{0, 1}))
		case 2:
			b = cat(b, pngChunk("tRNS", []byte{0, 1, 0, 2, 0, 3}))
		case 3:
			b = cat(b, pngChunk("tRNS", []byte{1, 2, 3}))
		}
	}
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, rng.IntN(10))
	zw.Write(raw)
	zw.Close()
	data := z.Bytes()
	for i := range idats {
		n := len(data) / (idats - i)
		b = cat(b, pngChunk("IDAT", data[:n]))
		data = data[n:]
	}
	return cat(b, pngChunk("IEND", nil))
}

// pngChunks splits a PNG after its signature into whole chunks (length,
// type, data, CRC); a tail that is not a whole chunk is dropped.
func pngChunks(b []byte) [][]byte {
	var out [][]byte
	for pos := 8; pos+12 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[pos:]))
		if n < 0 || pos+12+n > len(b) {
			break
		}
		out = append(out, b[pos:pos+12+n])
		pos += 12 + n
	}
	return out
}

// fixCRC recomputes the CRC of a whole chunk.
func fixCRC(c []byte) []byte {
	c = bytes.Clone(c)
	binary.BigEndian.PutUint32(c[len(c)-4:], crc32.ChecksumIEEE(c[4:len(c)-4]))
	return c
}

// mutatePNG returns a random variant of b: bytes flipped, cut or inserted,
// with or without repairing the chunk CRCs (so that the decoders look
// past them), chunks dropped, repeated or reordered, data appended.
func mutatePNG(rng *rand.Rand, b []byte) []byte {
	chunks := pngChunks(b)
	if len(chunks) == 0 || rng.IntN(8) == 0 {
		m := bytes.Clone(b)
		if len(m) > 0 {
			m[rng.IntN(len(m))] ^= byte(1 + rng.IntN(255))
		}
		return m[:rng.IntN(len(m)+1)]
	}
	i := rng.IntN(len(chunks))
	c := bytes.Clone(chunks[i])
	switch rng.IntN(7) {
	case 0: // a flipped data or length byte, CRC repaired
		c[rng.IntN(len(c)-4)] ^= byte(1 + rng.IntN(255))
		chunks[i] = fixCRC(c)
	case 1: // a flipped byte, CRC not repaired
		c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
		chunks[i] = c
	case 2: // chunk dropped
		chunks = append(chunks[:i], chunks[i+1:]...)
	case 3: // chunk repeated
		chunks = append(chunks[:i+1], chunks[i:]...)
	case 4: // two chunks swapped
		j := rng.IntN(len(chunks))
		chunks[i], chunks[j] = chunks[j], chunks[i]
	case 5: // data cut short, length and CRC repaired
		n := len(c) - 12
		k := rng.IntN(n + 1)
		c = cat(c[:8+k], c[len(c)-4:])
		binary.BigEndian.PutUint32(c, uint32(k))
		chunks[i] = fixCRC(c)
	case 6: // bytes appended to the data, length and CRC repaired
		extra := make([]byte, 1+rng.IntN(40))
		for k := range extra {
			extra[k] = byte(rng.Uint32())
		}
		c = cat(c[:len(c)-4], extra, c[len(c)-4:])
		binary.BigEndian.PutUint32(c, uint32(len(c)-12))
		chunks[i] = fixCRC(c)
	}
	return cat(b[:8], bytes.Join(chunks, nil))
}

// TestScanPNGMatchesDecode compares scanPNG with png.Decode on valid PNGs
// of every kind and many thousands of corrupted ones.
func TestScanPNGMatchesDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	corpus := pngCorpus(t, rng)
	rounds := 400
	if testing.Short() {
		rounds = 50
	}
	for name, b := range corpus {
		sameVerdict(t, name, b)
		m := b
		for i := range rounds {
			if i%20 == 0 {
				m = b
			}
			m = mutatePNG(rng, m)
			sameVerdict(t, name+" mutated", m)
		}
	}
}

// TestScanPNGRows builds PNGs whose decompressed stream is wrong in the
// ways only a full decode sees: a bad filter type, rows missing, data
// after the last row, data after the zlib stream, a bad Adler-32.
func TestScanPNGRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, interlace := range []byte{0, 1} {
		raw := rawRows(rng, 11, 9, 8, 6, interlace)
		cases := map[string][]byte{
			"ok":           raw,
			"bad filter":   mutate(raw, func(b []byte) []byte { b[0] = 5; return b }),
			"short":        raw[:len(raw)-1],
			"rows missing": raw[:len(raw)/2],
			"extra row":    cat(raw, raw[:45]),
			"extra byte":   cat(raw, []byte{0}),
		}
		for name, r := range cases {
			b := buildPNG(rng, 11, 9, 8, 6, interlace, r, 2)
			sameVerdict(t, name, b)
			if (scanAccepts(b) == nil) != (name == "ok") {
				t.Errorf("interlace %d, %s: scanPNG says %v", interlace, name, scanAccepts(b))
			}
		}
		good := buildPNG(rng, 11, 9, 8, 6, interlace, raw, 1)
		chunks := pngChunks(good)
		for i, c := range chunks {
			if string(c[4:8]) != "IDAT" {
				continue
			}
			bad := bytes.Clone(c)
			bad[len(bad)-5] ^= 1 // last byte of the Adler-32
			chunks[i] = fixCRC(bad)
		}
		b := cat(good[:8], bytes.Join(chunks, nil))
		sameVerdict(t, "bad adler", b)
		if scanAccepts(b) == nil {
			t.Errorf("interlace %d: a bad Adler-32 was accepted", interlace)
		}
	}
}

// FuzzScanPNG checks that scanPNG and png.Decode agree on arbitrary input.
func FuzzScanPNG(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, b := range pngCorpus(f, rng) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<20 {
			return
		}
		sameVerdict(t, "fuzz", b)
	})
}
