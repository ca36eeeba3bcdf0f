package bench

import (
	"bytes"
	"crypto/sha256"
	"hash/adler32"
	"image/png"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// TestPNGDecodesAtRequestedSize checks small generated images decode with
// image/png, have the size asked for within 1%, and exactly EncodedSize.
func TestPNGDecodesAtRequestedSize(t *testing.T) {
	for _, size := range []int64{1 << 10, 200 << 10, 1 << 20, 5<<20 + 12345} {
		p, err := NewPNG(size, 7)
		if err != nil {
			t.Fatal(err)
		}
		b := p.Bytes()
		if int64(len(b)) != p.EncodedSize() {
			t.Errorf("size %d: wrote %d bytes, EncodedSize %d", size, len(b), p.EncodedSize())
		}
		checkNear(t, size, int64(len(b)))
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("size %d: decode: %v", size, err)
		}
		if got := img.Bounds().Size(); got.X != p.Width || got.Y != p.Height {
			t.Errorf("size %d: decoded %v, want %dx%d", size, got, p.Width, p.Height)
		}
	}
}

// TestPNGStreamed64MiB decodes a 64 MiB image straight from its stream and
// checks that nothing follows IEND.
func TestPNGStreamed64MiB(t *testing.T) {
	const size = 64 << 20
	p, err := NewPNG(size, 11)
	if err != nil {
		t.Fatal(err)
	}
	cr := &countReader{r: p.ReaderWithText(textKeyword, "streamed")}
	img, err := png.Decode(cr)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got := img.Bounds().Size(); got.X != p.Width || got.Y != p.Height {
		t.Errorf("decoded %v, want %dx%d", got, p.Width, p.Height)
	}
	rest, err := io.Copy(io.Discard, cr)
	if err != nil {
		t.Fatal(err)
	}
	want := p.EncodedSize() + int64(len(TextChunk(textKeyword, "streamed")))
	if cr.n != want {
		t.Errorf("stream is %d bytes (%d after the decoder stopped), want %d", cr.n, rest, want)
	}
	checkNear(t, size, cr.n)
}

// TestReaderInAnyPieces checks the reader gives the same bytes as
// WriteWithText whatever the sizes of the reads (iotest.TestReader reads a
// byte at a time, in odd sizes, and checks EOF).
func TestReaderInAnyPieces(t *testing.T) {
	for _, size := range []int64{200, 70 << 10, 600 << 10} {
		p, err := NewPNG(size, 5)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if _, err := p.WriteWithText(&want, textKeyword, "pieces"); err != nil {
			t.Fatal(err)
		}
		if err := iotest.TestReader(p.ReaderWithText(textKeyword, "pieces"), want.Bytes()); err != nil {
			t.Errorf("%d bytes: %v", size, err)
		}
		if _, err := png.Decode(bytes.NewReader(want.Bytes())); err != nil {
			t.Errorf("%d bytes: %v", size, err)
		}
	}
}

// TestInsertTextKeepsValidAndChangesHash checks a tEXt chunk after IHDR
// keeps the image decodable (CRCs right) and gives each text its own hash,
// and that WriteWithText writes the same bytes as InsertText.
func TestInsertTextKeepsValidAndChangesHash(t *testing.T) {
	p, err := NewPNG(100<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	base := p.Bytes()
	seen := map[[32]byte]bool{sha256.Sum256(base): true}
	for _, text := range []string{"a", "b", "upload 12345"} {
		b, err := InsertText(base, textKeyword, text)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Fatalf("%q: decode: %v", text, err)
		}
		h := sha256.Sum256(b)
		if seen[h] {
			t.Errorf("%q: hash not unique", text)
		}
		seen[h] = true
		var w bytes.Buffer
		if _, err := p.WriteWithText(&w, textKeyword, text); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w.Bytes(), b) {
			t.Errorf("%q: WriteWithText differs from InsertText", text)
		}
	}
	bad := bytes.Clone(base)
	bad[ihdrEnd-1] ^= 1 // IHDR CRC
	if _, err := png.Decode(bytes.NewReader(bad)); err == nil {
		t.Error("decoder does not check CRCs; the test proves nothing")
	}
	if _, err := InsertText([]byte("GIF89a"), "k", "v"); err == nil {
		t.Error("InsertText accepted a GIF")
	}
}

func TestAdlerCombine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		a := make([]byte, r.IntN(200000))
		b := make([]byte, r.IntN(200000))
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := adler32.Checksum(append(bytes.Clone(a), b...))
		if got := adlerCombine(adler32.Checksum(a), adler32.Checksum(b), int64(len(b))); got != want {
			t.Fatalf("len %d+%d: combine %08x, want %08x", len(a), len(b), got, want)
		}
	}
}

func checkNear(t *testing.T, want, got int64) {
	t.Helper()
	if d := float64(got-want) / float64(want); d > 0.01 || d < -0.01 {
		t.Errorf("encoded %d bytes, want %d ±1%%", got, want)
	}
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
