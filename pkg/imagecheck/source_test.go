package imagecheck

import (
	"bytes"
	"encoding/binary"
	"image/png"
	"io"
	"testing"
)

// splitIDAT re-cuts the single IDAT chunk of a PNG into chunks of at most
// size bytes.
func splitIDAT(p []byte, size int) []byte {
	i := bytes.Index(p, []byte("IDAT")) - 4
	n := int(binary.BigEndian.Uint32(p[i:]))
	data := p[i+8 : i+8+n]
	out := bytes.Clone(p[:i])
	for len(data) > 0 {
		k := min(size, len(data))
		out = append(out, pngChunk("IDAT", data[:k])...)
		data = data[k:]
	}
	return append(out, p[i+12+n:]...)
}

// countingReader counts ReadAt calls and bytes.
type countingReader struct {
	r            io.ReaderAt
	calls, bytes int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.calls++
	n, err := c.r.ReadAt(p, off)
	c.bytes += n
	return n, err
}

// TestLargeChunksWalk walks PNGs larger than wholeMax whose IDAT chunks are
// longer than the read window, so the walker hops from header to header
// with small reads: a valid image passes with few bytes read, and damage
// found only by hopping (a bad chunk type mid-stream, a cut last chunk,
// bytes after IEND) is still refused, as png.Decode refuses it.
func TestLargeChunksWalk(t *testing.T) {
	const w, h = 400, 400
	raw := make([]byte, 0, h*(1+3*w))
	seed := uint32(1)
	for y := 0; y < h; y++ {
		raw = append(raw, 0)
		for x := 0; x < 3*w; x++ {
			seed = seed*1664525 + 1013904223
			raw = append(raw, byte(seed>>24))
		}
	}
	good := splitIDAT(pngStored(w, h, 2, raw), 100<<10)
	if len(good) <= wholeMax {
		t.Fatalf("test image is %d bytes, want more than %d", len(good), wholeMax)
	}
	if _, err := png.Decode(bytes.NewReader(good)); err != nil {
		t.Fatalf("png.Decode of the valid image: %v", err)
	}
	p := DefaultPolicy()
	p.FullDecode = false // the walk alone
	c := newChecker(t, p)
	cr := &countingReader{r: bytes.NewReader(good)}
	res, err := c.Check(t.Context(), cr, int64(len(good)), Meta{})
	if err != nil || res.Width != w || res.Height != h || res.Frames != 1 {
		t.Fatalf("valid image: %+v, %v", res, err)
	}
	if cr.bytes > len(good)/4 {
		t.Errorf("walking %d bytes read %d in %d calls", len(good), cr.bytes, cr.calls)
	}

	third := bytes.Index(good[200<<10:], []byte("IDAT")) + 200<<10
	t.Logf("walked %d bytes with %d reads of %d bytes in all", len(good), cr.calls, cr.bytes)
	for _, tc := range []struct {
		name, code string
		data       []byte
	}{
		{"bad chunk type mid-stream", CodeCorruptImage, mutate(good, func(b []byte) []byte { b[third] = '!'; return b })},
		{"last chunk cut", CodeCorruptImage, good[:len(good)-20]},
		{"bytes after IEND", CodeTrailingData, append(bytes.Clone(good), "trailing"...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := png.Decode(bytes.NewReader(tc.data)); err == nil && tc.code == CodeCorruptImage {
				t.Fatalf("png.Decode accepts it: the case is not damaged")
			}
			_, err := c.Check(t.Context(), bytes.NewReader(tc.data), int64(len(tc.data)), Meta{})
			wantHTTPErr(t, err, 422, tc.code)
		})
	}
}
