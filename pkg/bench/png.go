package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
)

// PNG layout constants. The image is 8-bit RGBA, not interlaced, every row
// filtered with filter 0 (None), and the zlib stream is made of stored
// (uncompressed) deflate blocks, so the encoded size is known in advance and
// generating it costs little more than a memory copy.
const (
	pngSignature = "\x89PNG\r\n\x1a\n"
	ihdrEnd      = 8 + 8 + 13 + 4 // signature + IHDR chunk
	iendLen      = 12
	chunkOverhd  = 12    // length, type, CRC
	storedMax    = 65535 // largest stored deflate block
	idatMax      = 256 << 10
	zlibOverhd   = 2 + 4 // header + adler32
	poolRows     = 61    // distinct noise rows an image is made of
	bytesPerPix  = 4
)

// PNG is a generated, valid PNG image of noise pixels whose encoded size is
// chosen in advance. It is built once (a pool of random rows, a few MiB at
// most) and written any number of times, as a stream, without ever holding
// the whole encoding in memory: a 16384x16384 image (1 GiB) is as cheap to
// hold as a small one. A PNG is safe for concurrent use.
type PNG struct {
	Width, Height int

	pool  [][]byte // rows, each a filter byte (0) and Width*4 pixel bytes
	seed  uint64
	adler uint32 // adler32 of the whole raw (filtered) image data
}

// NewPNG returns an image whose encoding (without any inserted text chunk)
// is within 1% of size bytes for sizes of 1 KiB and more. The same seed
// gives the same image.
func NewPNG(size int64, seed uint64) (*PNG, error) {
	if size < 128 {
		return nil, fmt.Errorf("bench: image size %d too small (want at least 128 bytes)", size)
	}
	w, h := dimensions(size)
	if w > math.MaxInt32/bytesPerPix || h > math.MaxInt32 {
		return nil, fmt.Errorf("bench: image size %d too large", size)
	}
	p := &PNG{Width: w, Height: h, seed: seed}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	src := rand.NewChaCha8(key)
	rowAdler := make([]uint32, min(h, poolRows))
	for i := range rowAdler {
		row := make([]byte, 1+bytesPerPix*w)
		_, _ = src.Read(row[1:])
		p.pool = append(p.pool, row)
		rowAdler[i] = adler32.Checksum(row)
	}
	p.adler = 1
	rowLen := int64(len(p.pool[0]))
	for y := range h {
		p.adler = adlerCombine(p.adler, rowAdler[p.rowIndex(y)], rowLen)
	}
	return p, nil
}

// dimensions picks a near-square width and height (aspect ratio within
// 4:1) whose encoding is closest to size bytes.
func dimensions(size int64) (w, h int) {
	fixed := float64(ihdrEnd + iendLen + zlibOverhd + chunkOverhd)
	// Per raw byte: itself, a stored block header per 64 KiB and an IDAT
	// chunk header per 256 KiB.
	raw := (float64(size) - fixed) / (1 + 5.0/storedMax + float64(chunkOverhd)/idatMax)
	w0 := max(1, int(math.Round(math.Sqrt(raw/bytesPerPix))))
	best := int64(math.MaxInt64)
	for d := 0; d <= w0; d++ {
		for _, cw := range []int{w0 - d, w0 + d} {
			ch := max(1, int(math.Round(raw/float64(1+bytesPerPix*cw))))
			if cw < 1 || cw > 4*ch || ch > 4*cw {
				continue
			}
			if diff := abs(encodedSize(cw, ch) - size); diff < best {
				best, w, h = diff, cw, ch
			}
		}
		if best <= size/1000 {
			break
		}
	}
	return max(w, 1), max(h, 1)
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// encodedSize is the length of the encoding of a w x h image without a text
// chunk.
func encodedSize(w, h int) int64 {
	raw := int64(h) * int64(1+bytesPerPix*w)
	z := zlibOverhd + raw + 5*((raw+storedMax-1)/storedMax)
	return ihdrEnd + z + (z+idatMax-1)/idatMax*chunkOverhd + iendLen
}

// rowIndex says which pool row image row y is: a cheap hash of seed and y.
func (p *PNG) rowIndex(y int) int {
	x := p.seed + uint64(y)*0x9e3779b97f4a7c15
	x ^= x >> 31
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 29
	return int(x % uint64(len(p.pool)))
}

func (p *PNG) rawLen() int64 { return int64(p.Height) * int64(len(p.pool[0])) }

// EncodedSize is the exact length of the encoding written by WriteTo.
// A text chunk inserted by WriteWithText or InsertText adds
// len(TextChunk(keyword, text)).
func (p *PNG) EncodedSize() int64 { return encodedSize(p.Width, p.Height) }

// WriteTo writes the encoding to w. It implements io.WriterTo.
func (p *PNG) WriteTo(w io.Writer) (int64, error) {
	return copyOut(w, p.newReader(nil))
}

// WriteWithText writes the encoding with a tEXt chunk (see TextChunk) right
// after IHDR, which makes the bytes, and so their SHA-256, unique per text.
func (p *PNG) WriteWithText(w io.Writer, keyword, text string) (int64, error) {
	return copyOut(w, p.ReaderWithText(keyword, text))
}

// ReaderWithText returns a reader of the encoding that WriteWithText
// writes. It makes the bytes as they are read, straight into the reader's
// buffer: no goroutine, no pipe, no copy of its own.
func (p *PNG) ReaderWithText(keyword, text string) io.Reader {
	return p.newReader(TextChunk(keyword, text))
}

// copyOut copies r to w in pieces of one IDAT chunk.
func copyOut(w io.Writer, r io.Reader) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{w}, r, make([]byte, idatMax))
}

// Bytes returns the whole encoding, for small images.
func (p *PNG) Bytes() []byte {
	var b bytes.Buffer
	b.Grow(int(p.EncodedSize()))
	_, _ = p.WriteTo(&b)
	return b.Bytes()
}

// chunk encodes a PNG chunk: length, type, data, CRC of type and data.
func chunk(typ string, data []byte) []byte {
	b := make([]byte, 0, chunkOverhd+len(data))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// TextChunk encodes a PNG tEXt chunk (keyword, NUL, text) with its CRC.
// The keyword should be 1-79 Latin-1 characters, the text Latin-1 too.
func TextChunk(keyword, text string) []byte {
	return chunk("tEXt", []byte(keyword+"\x00"+text))
}

// InsertText returns a copy of the PNG img with a tEXt chunk inserted right
// after IHDR. img must start with the PNG signature and an IHDR chunk.
func InsertText(img []byte, keyword, text string) ([]byte, error) {
	if len(img) < ihdrEnd || string(img[:8]) != pngSignature || string(img[8:16]) != "\x00\x00\x00\x0dIHDR" {
		return nil, errors.New("bench: not a PNG starting with IHDR")
	}
	t := TextChunk(keyword, text)
	out := make([]byte, 0, len(img)+len(t))
	out = append(out, img[:ihdrEnd]...)
	out = append(out, t...)
	return append(out, img[ihdrEnd:]...), nil
}

// adlerCombine returns the adler32 of A followed by B from adler32(A),
// adler32(B) and len(B), like zlib's adler32_combine.
func adlerCombine(a1, a2 uint32, len2 int64) uint32 {
	const base = 65521
	rem := uint64(len2 % base)
	s1 := uint64(a1 & 0xffff)
	s2 := rem * s1 % base
	s1 += uint64(a2&0xffff) + base - 1
	s2 += uint64(a1>>16) + uint64(a2>>16) + base - rem
	return uint32(s2%base)<<16 | uint32(s1%base)
}
