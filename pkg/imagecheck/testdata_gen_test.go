package imagecheck

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"hash/adler32"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// testdataDir is the repository's shared testdata directory.
const testdataDir = "../../testdata"

// updateEnv names the environment variable that makes TestTestdataUpToDate
// rewrite the files instead of comparing them.
const updateEnv = "TUSIMG_UPDATE_TESTDATA"

// TestTestdataUpToDate checks that every generated file in testdata/ equals
// what generateTestdata produces, so nobody edits them by hand. Run with
// TUSIMG_UPDATE_TESTDATA=1 to (re)write them.
func TestTestdataUpToDate(t *testing.T) {
	files, err := generateTestdata()
	if err != nil {
		t.Fatalf("generateTestdata: %v", err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	if os.Getenv(updateEnv) == "1" {
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(testdataDir, name), files[name], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("wrote %d files to %s", len(names), testdataDir)
		return
	}
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join(testdataDir, name))
		if err != nil {
			t.Errorf("%v (run %s=1 go test ./pkg/imagecheck/ -run TestTestdataUpToDate)", err, updateEnv)
			continue
		}
		if !bytes.Equal(got, files[name]) {
			t.Errorf("testdata/%s (%d bytes) differs from the generator's output (%d bytes); "+
				"do not edit it by hand, change the generator and run %s=1 go test ./pkg/imagecheck/ -run TestTestdataUpToDate",
				name, len(got), len(files[name]), updateEnv)
		}
	}
}

// generateTestdata returns the contents of every generated testdata file by
// name. It is deterministic.
func generateTestdata() (map[string][]byte, error) {
	okPNG := pngStored(64, 48, 2, gradientRows(64, 48))
	okJPG, err := encodeJPEG()
	if err != nil {
		return nil, err
	}
	okGIF, err := encodeGIF(32, 32, 32, 32, 3)
	if err != nil {
		return nil, err
	}
	bombGIF, err := encodeGIF(65535, 65535, 1, 1, 1)
	if err != nil {
		return nil, err
	}
	manyGIF, err := encodeGIF(1, 1, 1, 1, 1001)
	if err != nil {
		return nil, err
	}
	zipped, err := zipPayload()
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		"ok.png":           okPNG,
		"ok.jpg":           okJPG,
		"ok.gif":           okGIF,
		"ok.webp":          webpFile(chunk("VP8L", vp8lPattern(32, 32, 0))),
		"ok_animated.webp": animatedWebP(32, 32, 3),
		"html_as.png":      []byte(htmlPage),
		"svg_script.svg":   []byte(svgScript),
		"svg_as.png":       []byte(svgScript),
		"bad_crc.png":      flipIDATCRC(okPNG),
		"truncated.jpg":    okJPG[:len(okJPG)/2],
		"bomb_100k.png":    pngStored(100000, 100000, 0, make([]byte, 16)),
		"bomb_50mpx.png":   pngStored(7100, 7100, 0, make([]byte, 16)),
		"bomb.gif":         bombGIF,
		"many_frames.gif":  manyGIF,
		"bomb.jpg":         patchSOF(okJPG, 65500, 65500),
		"empty.png":        {},
		"jpeg_named.png":   okJPG,
		"polyglot.png":     cat(okPNG, zipped),
		"polyglot.jpg":     cat(okJPG, []byte(`<html><script>alert(1)</script></html>`)),
		"text.txt":         []byte("This is a plain text file, not an image.\n"),
	}, nil
}

const htmlPage = `<!DOCTYPE html>
<html>
<head><title>not an image</title></head>
<body>
<h1>Hello</h1>
<script>alert(document.domain)</script>
</body>
</html>
`

const svgScript = `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48" viewBox="0 0 64 48">
  <rect width="64" height="48" fill="#c33"/>
  <script type="text/javascript">alert(document.domain)</script>
</svg>
`

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// gradientRows returns the filtered (filter type 0) RGB scanlines of a w x h
// gradient.
func gradientRows(w, h int) []byte {
	raw := make([]byte, 0, h*(1+3*w))
	for y := range h {
		raw = append(raw, 0)
		for x := range w {
			raw = append(raw, byte(x*255/(w-1)), byte(y*255/(h-1)), byte((x+y)*4))
		}
	}
	return raw
}

// pngStored builds a PNG by hand, with the IDAT as uncompressed (stored)
// deflate blocks so the bytes never depend on compress/flate's version.
// colorType 0 is 8-bit gray, 2 is 8-bit RGB; raw is the IDAT payload.
func pngStored(w, h int, colorType byte, raw []byte) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 8, colorType, 0, 0, 0)
	sum := adler32.Checksum(raw)
	z := []byte{0x78, 0x01} // zlib header: deflate, 32K window, no dictionary
	for first := true; first || len(raw) > 0; first = false {
		n := min(len(raw), 65535)
		final := byte(0)
		if n == len(raw) {
			final = 1
		}
		z = append(z, final)
		z = binary.LittleEndian.AppendUint16(z, uint16(n))
		z = binary.LittleEndian.AppendUint16(z, ^uint16(n))
		z, raw = append(z, raw[:n]...), raw[n:]
	}
	z = binary.BigEndian.AppendUint32(z, sum)
	return cat([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr), pngChunk("IDAT", z), pngChunk("IEND", nil))
}

func pngChunk(kind string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(append(b, kind...), data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// flipIDATCRC returns a copy of a PNG with the last CRC byte of its first IDAT
// chunk inverted.
func flipIDATCRC(p []byte) []byte {
	p = bytes.Clone(p)
	i := bytes.Index(p, []byte("IDAT")) - 4
	n := int(binary.BigEndian.Uint32(p[i:]))
	p[i+8+n+3] ^= 0xFF
	return p
}

func gradientImage(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{byte(x * 255 / (w - 1)), byte(y * 255 / (h - 1)), byte((x + y) * 4), 255})
		}
	}
	return m
}

func encodeJPEG() ([]byte, error) {
	var b bytes.Buffer
	err := jpeg.Encode(&b, gradientImage(64, 48), &jpeg.Options{Quality: 85})
	return b.Bytes(), err
}

// patchSOF returns a copy of a baseline JPEG whose SOF0 declares w x h.
func patchSOF(j []byte, w, h int) []byte {
	j = bytes.Clone(j)
	for pos := 2; pos+4 <= len(j); {
		marker, n := j[pos+1], int(binary.BigEndian.Uint16(j[pos+2:]))
		if marker == 0xC0 {
			binary.BigEndian.PutUint16(j[pos+5:], uint16(h))
			binary.BigEndian.PutUint16(j[pos+7:], uint16(w))
			return j
		}
		pos += 2 + n
	}
	panic("patchSOF: no SOF0")
}

// encodeGIF encodes an animation of the given number of fw x fh frames on a
// w x h logical screen with a global palette.
func encodeGIF(w, h, fw, fh, frames int) ([]byte, error) {
	pal := color.Palette{color.Black, color.White, color.RGBA{200, 40, 40, 255}, color.RGBA{40, 40, 200, 255}}
	g := &gif.GIF{Config: image.Config{ColorModel: pal, Width: w, Height: h}}
	for i := range frames {
		m := image.NewPaletted(image.Rect(0, 0, fw, fh), pal)
		for y := range fh {
			for x := range fw {
				m.SetColorIndex(x, y, uint8((x/8+y/8+i)%len(pal)))
			}
		}
		g.Image = append(g.Image, m)
		g.Delay = append(g.Delay, 0)
	}
	if frames > 1 && frames < 10 {
		for i := range g.Delay {
			g.Delay[i] = 20
		}
	}
	var b bytes.Buffer
	err := gif.EncodeAll(&b, g)
	return b.Bytes(), err
}

// zipPayload returns a ZIP archive holding an HTML page with a script.
func zipPayload() ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	f, err := zw.CreateHeader(&zip.FileHeader{Name: "index.html", Method: zip.Store,
		Modified: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		return nil, err
	}
	if _, err := f.Write([]byte(htmlPage)); err != nil {
		return nil, err
	}
	err = zw.Close()
	return b.Bytes(), err
}

// bitWriter packs bits least significant first, as VP8L reads them.
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint
}

func (w *bitWriter) write(v uint64, bits uint) {
	w.acc |= v << w.n
	for w.n += bits; w.n >= 8; w.n -= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
	}
}

func (w *bitWriter) bytes() []byte {
	if w.n > 0 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc, w.n = 0, 0
	}
	return w.buf
}

// vp8lPattern encodes a w x h opaque image as a VP8L (lossless WebP)
// bitstream by hand: no transforms, no color cache, one prefix code group of
// "simple" codes: green, red and blue each use the two symbols 0 and 255 (one
// bit per pixel each), alpha is always 255, distances are unused. Pixels form
// 8x8 blocks of eight colors; phase shifts the pattern.
func vp8lPattern(w, h, phase int) []byte {
	bw := &bitWriter{}
	bw.write(0x2f, 8) // signature
	bw.write(uint64(w-1), 14)
	bw.write(uint64(h-1), 14)
	bw.write(0, 1) // alpha_is_used hint
	bw.write(0, 3) // version
	bw.write(0, 1) // no transform
	bw.write(0, 1) // no color cache
	bw.write(0, 1) // no meta prefix codes
	for range 3 {  // green, red, blue: simple code, 2 symbols, 8-bit: 0 and 255
		bw.write(1, 1)
		bw.write(1, 1)
		bw.write(1, 1)
		bw.write(0, 8)
		bw.write(255, 8)
	}
	bw.write(0b101, 3)  // alpha: simple, 1 symbol, 8-bit ...
	bw.write(255, 8)    // ... 255
	bw.write(0b0001, 4) // distance: simple, 1 symbol, 1-bit 0
	bit := func(v bool) uint64 {
		if v {
			return 1
		}
		return 0
	}
	for y := range h {
		for x := range w {
			bx, by := (x+phase)/8, y/8
			bw.write(bit(by%2 == 1), 1)      // green
			bw.write(bit(bx%2 == 1), 1)      // red
			bw.write(bit((bx+by)%3 == 0), 1) // blue
		}
	}
	return bw.bytes()
}

// chunk builds a RIFF chunk, padded to an even length.
func chunk(id string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32([]byte(id), uint32(len(data)))
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// webpFile wraps chunks in a RIFF WEBP container.
func webpFile(chunks ...[]byte) []byte {
	body := cat(chunks...)
	b := binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(4+len(body)))
	return cat(b, []byte("WEBP"), body)
}

func le24b(v int) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16)} }

// animatedWebP builds an animated WebP of frames full-canvas VP8L frames.
func animatedWebP(w, h, frames int) []byte {
	vp8x := cat([]byte{0x02, 0, 0, 0}, le24b(w-1), le24b(h-1)) // animation flag
	chunks := [][]byte{chunk("VP8X", vp8x), chunk("ANIM", []byte{255, 255, 255, 255, 0, 0})}
	for i := range frames {
		hdr := cat(le24b(0), le24b(0), le24b(w-1), le24b(h-1), le24b(100), []byte{0})
		chunks = append(chunks, chunk("ANMF", cat(hdr, chunk("VP8L", vp8lPattern(w, h, 8*i)))))
	}
	return webpFile(chunks...)
}
