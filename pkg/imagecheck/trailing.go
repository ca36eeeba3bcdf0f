package imagecheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// layout is what a structure walk learns about a complete upload.
type layout struct {
	// frames is the number of frames: 1 for a still image.
	frames int
	// end is the offset just past the image's last byte, including bytes the
	// format tolerates after it; end < size means trailing data.
	end int64
	// webpFrames locates the ANMF frames of an animated WebP for the full
	// decode; nil otherwise, and when there are more than the frame limit.
	webpFrames []webpFrame
}

// walk checks the container structure of an upload of type typ, counts its
// frames and finds where the image ends. Frames beyond maxFrames are counted
// but not recorded. Errors are structError (corrupt) or *readError.
func walk(typ string, s *source, maxFrames int) (layout, error) {
	switch typ {
	case TypePNG:
		return walkPNG(s)
	case TypeJPEG:
		return walkJPEG(s)
	case TypeGIF:
		return walkGIF(s)
	case TypeWebP:
		return walkWebP(s, maxFrames)
	}
	return layout{}, structError("unsupported type " + typ)
}

// walkPNG follows the PNG chunks from the signature to IEND, which must follow
// at least one IDAT. APNG frames are
// counted from the acTL chunk's num_frames and the fcTL chunks, whichever is
// larger. Chunk CRCs are left to the full decode.
func walkPNG(s *source) (layout, error) {
	pos := int64(8)
	var declared, fctl int64
	idat := false
	for {
		h, err := s.at(pos, 8)
		if err != nil {
			return layout{}, err
		}
		n := int64(binary.BigEndian.Uint32(h))
		if n > 1<<31-1 {
			return layout{}, structError("png: chunk length out of range")
		}
		if !validChunkType(h[4:8]) {
			// Also bounds the walk: garbage such as zeros would otherwise
			// read as endless 12-byte chunks.
			return layout{}, structError("png: invalid chunk type")
		}
		next := pos + 12 + n
		if next > s.size {
			return layout{}, errTruncated
		}
		switch string(h[4:8]) { // compiled without an allocation
		case "acTL":
			if n != 8 {
				return layout{}, structError("png: bad acTL length")
			}
			d, err := s.at(pos+8, 4)
			if err != nil {
				return layout{}, err
			}
			declared = int64(binary.BigEndian.Uint32(d))
		case "fcTL":
			fctl++
		case "IDAT":
			idat = true
		case "IEND":
			if !idat {
				return layout{}, structError("png: no IDAT chunk")
			}
			return layout{frames: int(min(max(1, declared, fctl), 1<<31-1)), end: next}, nil
		}
		pos = next
	}
}

// validChunkType reports whether t is a PNG chunk type: four ASCII letters
// (PNG spec 5.4).
func validChunkType(t []byte) bool {
	for _, c := range t {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// maxJPEGScans bounds the scans (SOS segments) of the decoded JPEG. Real
// progressive JPEGs have about 10; every scan costs the decoder a pass over
// all blocks, so thousands of tiny scans are a CPU bomb (libjpeg-turbo limits
// them for the same reason).
const maxJPEGScans = 500

// walkJPEG follows the JPEG markers from SOI to EOI; the image needs 1 to
// maxJPEGScans scans. After EOI it tolerates
// zero padding, and further complete JPEG images directly appended (the
// Multi-Picture Format of camera previews and HDR gain maps); anything else
// after the last EOI is trailing data.
func walkJPEG(s *source) (layout, error) {
	end, scans, err := jpegEnd(s, 0)
	if err != nil {
		return layout{}, err
	}
	if scans == 0 {
		return layout{}, structError("jpeg: no scan")
	}
	if scans > maxJPEGScans {
		return layout{}, structError(fmt.Sprintf("jpeg: %d scans, more than %d", scans, maxJPEGScans))
	}
	for s.size-end >= 3 {
		sig, err := s.at(end, 3)
		if err != nil {
			return layout{}, err
		}
		if !bytes.Equal(sig, []byte{0xFF, 0xD8, 0xFF}) {
			break
		}
		next, _, err := jpegEnd(s, end)
		if err != nil {
			var re *readError
			if errors.As(err, &re) {
				return layout{}, err
			}
			break // not a complete image: trailing data
		}
		end = next
	}
	zeros, err := zerosFrom(s, end)
	if err != nil {
		return layout{}, err
	}
	if end+zeros == s.size {
		end = s.size
	}
	return layout{frames: 1, end: end}, nil
}

// jpegEnd returns the offset just past the EOI marker of the JPEG image
// starting at start, and the number of its scans. Segments with a length are
// skipped; between them, fill bytes, entropy-coded data (with its 0xFF00
// stuffing and RSTn markers) and extraneous bytes are scanned, as the
// decoders do.
func jpegEnd(s *source, start int64) (end int64, scans int, err error) {
	soi, err := s.at(start, 2)
	if err != nil {
		return 0, 0, err
	}
	if soi[0] != 0xFF || soi[1] != 0xD8 {
		return 0, 0, structError("jpeg: missing SOI marker")
	}
	pos := start + 2
	for {
		marker, next, err := nextMarker(s, pos)
		if err != nil {
			return 0, 0, err
		}
		pos = next
		switch {
		case marker == 0xD9: // EOI
			return pos, scans, nil
		case marker == 0xD8:
			return 0, 0, structError("jpeg: unexpected SOI marker")
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7): // TEM, RSTn: no length
			continue
		case marker == 0xDA: // SOS
			scans++
		}
		n, err := s.be16(pos)
		if err != nil {
			return 0, 0, err
		}
		if n < 2 {
			return 0, 0, structError("jpeg: bad segment length")
		}
		pos += int64(n)
		if pos > s.size {
			return 0, 0, errTruncated
		}
	}
}

// nextMarker finds the next marker at or after pos and returns its code and
// the offset just past it.
func nextMarker(s *source, pos int64) (byte, int64, error) {
	for {
		w, err := s.from(pos)
		if err != nil {
			return 0, 0, err
		}
		i := bytes.IndexByte(w, 0xFF)
		if i < 0 {
			pos += int64(len(w))
			continue
		}
		pos += int64(i) + 1
		for {
			b, err := s.byteAt(pos)
			if err != nil {
				return 0, 0, err
			}
			pos++
			if b == 0xFF { // fill byte
				continue
			}
			if b != 0x00 { // 0xFF00 is a stuffed data byte
				return b, pos, nil
			}
			break
		}
	}
}

// zerosFrom counts the zero bytes from off on, up to the first non-zero byte
// or the end.
func zerosFrom(s *source, off int64) (int64, error) {
	start := off
	for off < s.size {
		w, err := s.from(off)
		if err != nil {
			return 0, err
		}
		for i, b := range w {
			if b != 0 {
				return off + int64(i) - start, nil
			}
		}
		off += int64(len(w))
	}
	return off - start, nil
}
