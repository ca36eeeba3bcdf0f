package imagecheck

import (
	"bytes"
	"encoding/binary"
)

// walkGIF follows the GIF blocks from the logical screen descriptor to the
// 0x3B trailer, counting image descriptors without decoding any pixels. Every
// frame must lie within the logical screen.
func walkGIF(s *source) (layout, error) {
	h, err := s.at(0, 13)
	if err != nil {
		return layout{}, err
	}
	screenW := int(binary.LittleEndian.Uint16(h[6:]))
	screenH := int(binary.LittleEndian.Uint16(h[8:]))
	pos := int64(13) + colorTableSize(h[10])
	frames := 0
	for {
		b, err := s.byteAt(pos)
		if err != nil {
			return layout{}, err
		}
		pos++
		switch b {
		case 0x21: // extension: label, then data sub-blocks
			if pos, err = skipSubBlocks(s, pos+1); err != nil {
				return layout{}, err
			}
		case 0x2C: // image descriptor
			d, err := s.at(pos, 9)
			if err != nil {
				return layout{}, err
			}
			left, top := int(binary.LittleEndian.Uint16(d[0:])), int(binary.LittleEndian.Uint16(d[2:]))
			w, h := int(binary.LittleEndian.Uint16(d[4:])), int(binary.LittleEndian.Uint16(d[6:]))
			if left+w > screenW || top+h > screenH {
				return layout{}, structError("gif: frame outside the logical screen")
			}
			// local color table, then the LZW minimum code size, then data
			pos += 9 + colorTableSize(d[8]) + 1
			if pos, err = skipSubBlocks(s, pos); err != nil {
				return layout{}, err
			}
			frames++
		case 0x3B: // trailer
			if frames == 0 {
				return layout{}, structError("gif: no image")
			}
			return layout{frames: frames, end: pos}, nil
		default:
			return layout{}, structError("gif: unknown block")
		}
	}
}

// colorTableSize returns the size in bytes of the color table announced by a
// GIF packed-fields byte.
func colorTableSize(packed byte) int64 {
	if packed&0x80 == 0 {
		return 0
	}
	return 3 << (packed&0x07 + 1)
}

// skipSubBlocks skips GIF data sub-blocks up to and including the
// terminating zero-length block and returns the offset after it.
func skipSubBlocks(s *source, pos int64) (int64, error) {
	for {
		n, err := s.byteAt(pos)
		if err != nil {
			return 0, err
		}
		pos += 1 + int64(n)
		if n == 0 {
			return pos, nil
		}
	}
}

// webpFrame locates one ANMF frame of an animated WebP.
type webpFrame struct {
	data, size int64 // frame data (the chunks after the 16-byte ANMF header)
	w, h       int
}

// webpCanvas is the part of a VP8X chunk imagecheck uses.
type webpCanvas struct {
	animated bool
	w, h     int
}

// walkWebP follows the RIFF chunks of a WebP. The file must end where the
// RIFF header says (plus a pad byte for an odd length). A still image needs a
// VP8 or VP8L chunk; an animated one (VP8X with the animation flag) counts
// its ANMF chunks, each of which must lie within the canvas. Up to maxFrames
// frames are recorded for the full decode.
func walkWebP(s *source, maxFrames int) (layout, error) {
	h, err := s.at(0, 12)
	if err != nil {
		return layout{}, err
	}
	end := 8 + int64(binary.LittleEndian.Uint32(h[4:]))
	if end > s.size {
		return layout{}, errTruncated
	}
	var (
		canvas   webpCanvas
		frames   []webpFrame
		nFrames  int
		hasImage bool
	)
	for pos := int64(12); pos < end; {
		id, data, n, err := riffChunk(s, pos, end)
		if err != nil {
			return layout{}, err
		}
		switch {
		case pos == 12 && id == "VP8X":
			if canvas, err = parseVP8X(s, data, n); err != nil {
				return layout{}, err
			}
		case pos == 12 && id != "VP8 " && id != "VP8L":
			return layout{}, structError("webp: first chunk is not VP8, VP8L or VP8X")
		case id == "VP8 " || id == "VP8L":
			hasImage = true
		case id == "ANMF" && canvas.animated:
			f, err := parseANMF(s, data, n, canvas)
			if err != nil {
				return layout{}, err
			}
			if nFrames++; nFrames <= maxFrames {
				frames = append(frames, f)
			}
		}
		pos = min(data+n+n&1, end)
	}
	if end == s.size-1 && end&1 == 1 { // RIFF pad byte
		if b, err := s.byteAt(end); err == nil && b == 0 {
			end++
		}
	}
	if canvas.animated && nFrames > 0 {
		return layout{frames: nFrames, end: end, webpFrames: frames}, nil
	}
	if canvas.animated || !hasImage {
		return layout{}, structError("webp: no image data")
	}
	return layout{frames: 1, end: end}, nil
}

// riffChunk reads the chunk header at pos and returns the chunk's FourCC, the
// offset and length of its data. The data must end within end.
func riffChunk(s *source, pos, end int64) (id string, data, n int64, err error) {
	if end-pos < 8 {
		return "", 0, 0, structError("webp: chunk header beyond RIFF end")
	}
	h, err := s.at(pos, 8)
	if err != nil {
		return "", 0, 0, err
	}
	n = int64(binary.LittleEndian.Uint32(h[4:]))
	if n > end-pos-8 {
		return "", 0, 0, structError("webp: chunk beyond RIFF end")
	}
	return string(h[:4]), pos + 8, n, nil
}

// parseVP8X reads the flags and canvas size of a VP8X chunk.
func parseVP8X(s *source, data, n int64) (webpCanvas, error) {
	if n != 10 {
		return webpCanvas{}, structError("webp: bad VP8X length")
	}
	b, err := s.at(data, 10)
	if err != nil {
		return webpCanvas{}, err
	}
	return webpCanvas{animated: b[0]&0x02 != 0, w: int(le24(b[4:])) + 1, h: int(le24(b[7:])) + 1}, nil
}

// parseANMF reads the geometry of an ANMF frame and checks it lies within
// the canvas.
func parseANMF(s *source, data, n int64, canvas webpCanvas) (webpFrame, error) {
	if n < 16 {
		return webpFrame{}, structError("webp: short ANMF chunk")
	}
	b, err := s.at(data, 16)
	if err != nil {
		return webpFrame{}, err
	}
	x, y := 2*int(le24(b[0:])), 2*int(le24(b[3:]))
	f := webpFrame{data: data + 16, size: n - 16, w: int(le24(b[6:])) + 1, h: int(le24(b[9:])) + 1}
	if x+f.w > canvas.w || y+f.h > canvas.h {
		return webpFrame{}, structError("webp: frame outside the canvas")
	}
	return f, nil
}

func le24(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 }

// isVP8X reports whether the WebP header in b (at least 30 bytes) has a VP8X
// chunk first.
func isVP8X(b []byte) bool {
	return len(b) >= 30 && bytes.Equal(b[12:16], []byte("VP8X"))
}
