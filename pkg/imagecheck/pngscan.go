package imagecheck

import (
	"bufio"
	"encoding/binary"
	"hash/crc32"
	"io"
	"sync"
)

// scanPNG is the full decode of a PNG without the pixels: it follows
// image/png.Decode step by step (chunk order, every chunk's CRC, the IHDR,
// PLTE and tRNS rules, the zlib stream and its Adler-32 checksum, the length
// and filter type of every row of every interlace pass, the end-of-data
// rules), reading r through the same stack of buffered readers and the same
// zlib logic (zlibReader, with a faster Adler-32), but keeps one row instead
// of the image and neither unfilters nor converts it, since neither can fail. So it accepts exactly what png.Decode accepts (the
// differential tests and FuzzScanPNG compare the two), in O(row) memory and
// without the image allocation that dominated the cost of checking a small
// upload (about 190 KiB of garbage per 200 KiB PNG, plus the pixel loops).
//
// r must be the buffered reader guard hands to decoders. It returns the
// IHDR's width and height.
func scanPNG(r io.Reader) (w, h int, err error) {
	s := pngScanners.Get().(*pngScanner)
	defer s.release()
	s.r = r
	if err := s.checkHeader(); err != nil {
		return 0, 0, unexpectedEOF(err)
	}
	for s.stage != pngSeenIEND {
		if err := s.parseChunk(); err != nil {
			return 0, 0, unexpectedEOF(err)
		}
	}
	return s.width, s.height, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Decoding stages (image/png's ds* constants).
const (
	pngStart = iota
	pngSeenIHDR
	pngSeenPLTE
	pngSeentRNS
	pngSeenIDAT
	pngSeenIEND
)

// pngScanner holds the state of one scan; scanners are pooled, with their
// zlib reader, its 4 KiB buffer and the row buffer.
type pngScanner struct {
	r          io.Reader     // the image, buffered (see scanPNG)
	zbuf       *bufio.Reader // what zlib.NewReader would put between it and the IDAT stream
	zr         zlibReader
	row        []byte
	tmp        [3 * 256]byte
	crc        uint32
	idatLength uint32

	stage, depth, colorType, bpp int // bpp: bits per pixel, 0 for an invalid combination
	paletted, trueColor          bool
	width, height, interlace     int
}

var pngScanners = sync.Pool{New: func() any {
	return &pngScanner{zbuf: bufio.NewReader(nil)}
}}

// maxPooledRow bounds the row buffer a pooled scanner keeps (a 16384-pixel
// RGBA64 row); wider images get a buffer of their own.
const maxPooledRow = 1 + 16384*8

func (s *pngScanner) release() {
	s.r = nil
	s.zbuf.Reset(nil)
	if cap(s.row) > maxPooledRow {
		s.row = nil
	}
	*s = pngScanner{zbuf: s.zbuf, zr: s.zr, row: s.row}
	pngScanners.Put(s)
}

var errPNGChunkOrder = pngFormatError("chunk out of order")

// pngFormatError is a defect png.Decode reports as a FormatError or an
// UnsupportedError.
type pngFormatError string

func (e pngFormatError) Error() string { return "png: " + string(e) }

func (s *pngScanner) checkHeader() error {
	if _, err := io.ReadFull(s.r, s.tmp[:8]); err != nil {
		return err
	}
	if string(s.tmp[:8]) != "\x89PNG\r\n\x1a\n" {
		return pngFormatError("not a PNG file")
	}
	return nil
}

// readCRC reads n bytes of chunk data into s.tmp, adding them to the CRC.
func (s *pngScanner) readCRC(n int) ([]byte, error) {
	b := s.tmp[:n]
	if _, err := io.ReadFull(s.r, b); err != nil {
		return nil, err
	}
	s.crc = crc32.Update(s.crc, crc32.IEEETable, b)
	return b, nil
}

func (s *pngScanner) verifyChecksum() error {
	if _, err := io.ReadFull(s.r, s.tmp[:4]); err != nil {
		return err
	}
	if binary.BigEndian.Uint32(s.tmp[:4]) != s.crc {
		return pngFormatError("invalid checksum")
	}
	return nil
}

func (s *pngScanner) startChunk(typ []byte) {
	s.crc = crc32.Update(0, crc32.IEEETable, typ)
}

func (s *pngScanner) parseChunk() error {
	if _, err := io.ReadFull(s.r, s.tmp[:8]); err != nil {
		return err
	}
	length := binary.BigEndian.Uint32(s.tmp[:4])
	s.startChunk(s.tmp[4:8])
	switch string(s.tmp[4:8]) {
	case "IHDR":
		if s.stage != pngStart {
			return errPNGChunkOrder
		}
		s.stage = pngSeenIHDR
		return s.parseIHDR(length)
	case "PLTE":
		if s.stage != pngSeenIHDR {
			return errPNGChunkOrder
		}
		s.stage = pngSeenPLTE
		return s.parsePLTE(length)
	case "tRNS":
		if err := s.tRNSOrder(); err != nil {
			return err
		}
		s.stage = pngSeentRNS
		return s.parsetRNS(length)
	case "IDAT":
		if s.stage < pngSeenIHDR || s.stage > pngSeenIDAT || (s.stage == pngSeenIHDR && s.paletted) {
			return errPNGChunkOrder
		}
		if s.stage != pngSeenIDAT { // later IDAT chunks are skipped, as png.Decode does
			s.stage = pngSeenIDAT
			return s.parseIDAT(length)
		}
	case "IEND":
		if s.stage != pngSeenIDAT {
			return errPNGChunkOrder
		}
		s.stage = pngSeenIEND
		if length != 0 {
			return pngFormatError("bad IEND length")
		}
		return s.verifyChecksum()
	}
	return s.skipChunk(length)
}

func (s *pngScanner) skipChunk(length uint32) error {
	if length > 0x7fffffff {
		return pngFormatError("bad chunk length")
	}
	for length > 0 {
		b, err := s.readCRC(int(min(uint32(len(s.tmp)), length)))
		if err != nil {
			return err
		}
		length -= uint32(len(b))
	}
	return s.verifyChecksum()
}

// Read presents the consecutive IDAT chunks as one stream, verifying each
// chunk's CRC when it is exhausted (image/png's decoder.Read).
func (s *pngScanner) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for s.idatLength == 0 {
		if err := s.verifyChecksum(); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(s.r, s.tmp[:8]); err != nil {
			return 0, err
		}
		s.idatLength = binary.BigEndian.Uint32(s.tmp[:4])
		if string(s.tmp[4:8]) != "IDAT" {
			return 0, pngFormatError("not enough pixel data")
		}
		s.startChunk(s.tmp[4:8])
	}
	if int(s.idatLength) < 0 {
		return 0, pngFormatError("IDAT chunk length overflow")
	}
	n, err := s.r.Read(p[:min(len(p), int(s.idatLength))])
	s.crc = crc32.Update(s.crc, crc32.IEEETable, p[:n])
	s.idatLength -= uint32(n)
	return n, err
}

func (s *pngScanner) parseIDAT(length uint32) error {
	s.idatLength = length
	if err := s.inflate(); err != nil {
		return err
	}
	return s.verifyChecksum()
}

// inflate reads the zlib stream: every row of every pass, then the end of
// the stream (which verifies its checksum), and nothing more.
func (s *pngScanner) inflate() error {
	s.zbuf.Reset(s)
	if err := s.zr.reset(s.zbuf); err != nil {
		return err
	}
	passes := 1
	if s.interlace == 1 {
		passes = len(adam7)
	}
	for pass := range passes {
		if err := s.readPass(pass); err != nil {
			return err
		}
	}
	n, err := 0, error(nil)
	for i := 0; n == 0 && err == nil; i++ {
		if i == 100 {
			return io.ErrNoProgress
		}
		n, err = s.zr.Read(s.tmp[:1])
	}
	if err != nil && err != io.EOF {
		return pngFormatError(err.Error())
	}
	if n != 0 || s.idatLength != 0 {
		return pngFormatError("too much pixel data")
	}
	return nil
}

// adam7 holds the x factor, y factor, x offset and y offset of each pass.
var adam7 = [7][4]int{{8, 8, 0, 0}, {8, 8, 4, 0}, {4, 8, 0, 4}, {4, 4, 2, 0}, {2, 4, 0, 2}, {2, 2, 1, 0}, {1, 2, 0, 1}}

// readPass reads the rows of one pass (the whole image when not
// interlaced) and checks their filter types.
func (s *pngScanner) readPass(pass int) error {
	width, height := s.width, s.height
	if s.interlace == 1 {
		p := adam7[pass]
		width = (width - p[2] + p[0] - 1) / p[0]
		height = (height - p[3] + p[1] - 1) / p[1]
		if width == 0 || height == 0 {
			return nil
		}
	}
	rowSize := 1 + (int64(s.bpp)*int64(width)+7)/8
	if rowSize != int64(int(rowSize)) {
		return pngFormatError("dimension overflow")
	}
	if int64(cap(s.row)) < rowSize {
		s.row = make([]byte, rowSize)
	}
	row := s.row[:rowSize]
	for range height {
		if _, err := io.ReadFull(&s.zr, row); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return pngFormatError("not enough pixel data")
			}
			return err
		}
		if row[0] > 4 {
			return pngFormatError("bad filter type")
		}
	}
	return nil
}
