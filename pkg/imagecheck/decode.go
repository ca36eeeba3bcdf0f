package imagecheck

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"sync"

	"golang.org/x/image/webp"
)

// trackReader remembers the first error of the underlying reader other than
// io.EOF, so a failing ReaderAt is not mistaken for a corrupt image.
type trackReader struct {
	r   io.Reader
	err error
}

func (t *trackReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// run calls a decoder on a buffered reader over r[0:size], turning a decoder
// panic into an error and a read failure into a *readError.
func run(r io.ReaderAt, size int64, f func(io.Reader) error) error {
	return guard(io.NewSectionReader(r, 0, size), f)
}

// bufSize is the read buffer of the decoders.
const bufSize = 16 << 10

// guard calls a decoder on a buffered rd, turning a decoder panic into an
// error and a failure of rd into a *readError. The standard decoders are
// fuzzed, but this package feeds them hostile input all day.
func guard(rd io.Reader, f func(io.Reader) error) (err error) {
	tr := &trackReader{r: rd}
	br := readBufs.Get().(*bufio.Reader)
	br.Reset(tr)
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("imagecheck: decoder panic: %v", v)
		}
		if tr.err != nil {
			err = &readError{err: tr.err}
		}
		br.Reset(nil)
		readBufs.Put(br)
	}()
	return f(br)
}

// readBufs recycles the decoders' read buffers (two per checked upload).
var readBufs = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}

// decodeConfig reads the image header: dimensions only, no pixels.
func decodeConfig(typ string, s *source) (image.Config, error) {
	if typ == TypeWebP {
		// The VP8X canvas may declare up to 2^24 x 2^24; read it here so
		// such a header is reported as too large rather than corrupt.
		if h, err := s.at(0, int(min(30, s.size))); err == nil && isVP8X(h) {
			if binary.LittleEndian.Uint32(h[16:]) != 10 {
				return image.Config{}, structError("webp: bad VP8X length")
			}
			return image.Config{Width: int(le24(h[24:])) + 1, Height: int(le24(h[27:])) + 1}, nil
		}
	}
	var cfg image.Config
	err := run(s.r, s.size, func(r io.Reader) error {
		var err error
		switch typ {
		case TypePNG:
			cfg, err = png.DecodeConfig(r)
		case TypeJPEG:
			cfg, err = jpeg.DecodeConfig(r)
		case TypeGIF:
			cfg, err = gif.DecodeConfig(r)
		case TypeWebP:
			cfg, err = webp.DecodeConfig(r)
		default:
			err = structError("unsupported type " + typ)
		}
		return err
	})
	return cfg, err
}

// decodeFull decodes every pixel of every frame and checks the decoded size
// matches the header's w x h. Animated WebP frames are decoded one by one;
// PNGs go through scanPNG, which decodes as image/png does but keeps one
// row instead of the image.
func decodeFull(typ string, r io.ReaderAt, size int64, w, h int, lay layout) error {
	if typ == TypeWebP && lay.webpFrames != nil {
		for _, f := range lay.webpFrames {
			if err := decodeWebPFrame(r, f); err != nil {
				return err
			}
		}
		return nil
	}
	var b image.Rectangle
	err := run(r, size, func(rd io.Reader) error {
		var (
			m   image.Image
			err error
		)
		switch typ {
		case TypePNG:
			var pw, ph int
			pw, ph, err = scanPNG(rd)
			b = image.Rect(0, 0, pw, ph)
			return err
		case TypeGIF:
			var g *gif.GIF
			if g, err = gif.DecodeAll(rd); err == nil {
				b = image.Rect(0, 0, g.Config.Width, g.Config.Height)
			}
			return err
		case TypeJPEG:
			m, err = jpeg.Decode(rd)
		case TypeWebP:
			m, err = webp.Decode(rd)
		}
		if err == nil {
			b = m.Bounds()
		}
		return err
	})
	if err == nil && (b.Dx() != w || b.Dy() != h) {
		err = fmt.Errorf("imagecheck: decoded %dx%d, header says %dx%d", b.Dx(), b.Dy(), w, h)
	}
	return err
}

// decodeWebPFrame decodes one ANMF frame by presenting its bitstream to the
// WebP decoder as a still image whose VP8X canvas is the frame's size, so the
// decoder rejects a bitstream larger than the frame before allocating.
func decodeWebPFrame(r io.ReaderAt, f webpFrame) error {
	alph, img, imgID, err := frameChunks(r, f)
	if err != nil {
		return err
	}
	var flags byte
	var parts []io.Reader
	total := 4 + 18 + 8 + img[1] + img[1]&1
	if alph[1] > 0 && imgID == "VP8 " {
		flags = 0x10 // alpha
		total += 8 + alph[1] + alph[1]&1
		parts = append(parts, chunkReader(r, "ALPH", alph))
	}
	head := make([]byte, 0, 30)
	head = binary.LittleEndian.AppendUint32(append(head, "RIFF"...), uint32(total))
	head = binary.LittleEndian.AppendUint32(append(head, "WEBPVP8X"...), 10)
	head = append(head, flags, 0, 0, 0)
	head = appendLE24(appendLE24(head, uint32(f.w-1)), uint32(f.h-1))
	parts = append([]io.Reader{bytes.NewReader(head)}, append(parts, chunkReader(r, imgID, img))...)
	return guard(io.MultiReader(parts...), func(rd io.Reader) error {
		m, err := webp.Decode(rd)
		if err == nil && (m.Bounds().Dx() != f.w || m.Bounds().Dy() != f.h) {
			err = errors.New("imagecheck: webp frame size differs from its ANMF header")
		}
		return err
	})
}

// frameChunks finds the ALPH chunk and the VP8 or VP8L chunk in the data of
// an ANMF frame, each as offset and length.
func frameChunks(r io.ReaderAt, f webpFrame) (alph, img [2]int64, imgID string, err error) {
	end := f.data + f.size
	s := newSource(r, end)
	for pos := f.data; pos < end; {
		id, data, n, err := riffChunk(s, pos, end)
		if err != nil {
			return alph, img, "", err
		}
		switch id {
		case "ALPH":
			alph = [2]int64{data, n}
		case "VP8 ", "VP8L":
			img, imgID = [2]int64{data, n}, id
		}
		pos = min(data+n+n&1, end)
	}
	if imgID == "" {
		return alph, img, "", structError("webp: frame without image data")
	}
	return alph, img, imgID, nil
}

// chunkReader reads a RIFF chunk with the given id whose data is at ref[0]
// with length ref[1] in r, followed by a pad byte when the length is odd.
func chunkReader(r io.ReaderAt, id string, ref [2]int64) io.Reader {
	h := binary.LittleEndian.AppendUint32([]byte(id), uint32(ref[1]))
	var pad []byte
	if ref[1]&1 == 1 {
		pad = []byte{0}
	}
	return io.MultiReader(bytes.NewReader(h), io.NewSectionReader(r, ref[0], ref[1]), bytes.NewReader(pad))
}

func appendLE24(b []byte, v uint32) []byte { return append(b, byte(v), byte(v>>8), byte(v>>16)) }
