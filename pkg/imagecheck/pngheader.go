package imagecheck

import "encoding/binary"

// The PNG header chunks, checked as image/png checks them (see scanPNG).

// tRNSOrder applies image/png's rule for where a tRNS chunk may come.
func (s *pngScanner) tRNSOrder() error {
	switch {
	case s.paletted:
		if s.stage != pngSeenPLTE {
			return errPNGChunkOrder
		}
	case s.trueColor:
		if s.stage != pngSeenIHDR && s.stage != pngSeenPLTE {
			return errPNGChunkOrder
		}
	case s.stage != pngSeenIHDR:
		return errPNGChunkOrder
	}
	return nil
}

func (s *pngScanner) parseIHDR(length uint32) error {
	if length != 13 {
		return pngFormatError("bad IHDR length")
	}
	b, err := s.readCRC(13)
	if err != nil {
		return err
	}
	if b[10] != 0 || b[11] != 0 {
		return pngFormatError("unsupported compression or filter method")
	}
	if b[12] > 1 {
		return pngFormatError("invalid interlace method")
	}
	s.interlace = int(b[12])
	w, h := int32(binary.BigEndian.Uint32(b[0:4])), int32(binary.BigEndian.Uint32(b[4:8]))
	if w <= 0 || h <= 0 {
		return pngFormatError("non-positive dimension")
	}
	// png.Decode's overflow checks: the pixel count must fit an int, and
	// so must 8 bytes per pixel.
	n := int64(w) * int64(h)
	if n != int64(int(n)) || int(n) != int(n)*8/8 {
		return pngFormatError("dimension overflow")
	}
	s.depth, s.colorType = int(b[8]), int(b[9])
	s.bpp = pngBitsPerPixel(s.depth, s.colorType)
	if s.bpp == 0 {
		return pngFormatError("unsupported bit depth and color type")
	}
	s.paletted = s.colorType == 3
	s.trueColor = s.colorType == 2
	s.width, s.height = int(w), int(h)
	return s.verifyChecksum()
}

// pngBitsPerPixel returns the bits per pixel of a bit depth and color type
// combination image/png supports, or 0.
func pngBitsPerPixel(depth, colorType int) int {
	channels := 0
	switch colorType {
	case 0, 3: // grayscale, paletted
		channels = 1
	case 2: // truecolor
		channels = 3
	case 4: // grayscale and alpha
		channels = 2
	case 6: // truecolor and alpha
		channels = 4
	}
	switch {
	case channels == 0:
		return 0
	case depth == 8 || (depth == 16 && colorType != 3):
		return depth * channels
	case (depth == 1 || depth == 2 || depth == 4) && (colorType == 0 || colorType == 3):
		return depth
	}
	return 0
}

func (s *pngScanner) parsePLTE(length uint32) error {
	np := int(length / 3)
	if length%3 != 0 || np <= 0 || np > 256 || np > 1<<uint(s.depth) {
		return pngFormatError("bad PLTE length")
	}
	if _, err := s.readCRC(3 * np); err != nil {
		return err
	}
	if !s.paletted && s.colorType != 2 && s.colorType != 6 {
		return pngFormatError("PLTE, color type mismatch")
	}
	return s.verifyChecksum()
}

func (s *pngScanner) parsetRNS(length uint32) error {
	switch {
	case s.colorType == 0:
		if length != 2 {
			return pngFormatError("bad tRNS length")
		}
	case s.trueColor:
		if length != 6 {
			return pngFormatError("bad tRNS length")
		}
	case s.paletted:
		if length > 256 {
			return pngFormatError("bad tRNS length")
		}
	default:
		return pngFormatError("tRNS, color type mismatch")
	}
	if _, err := s.readCRC(int(length)); err != nil {
		return err
	}
	return s.verifyChecksum()
}
