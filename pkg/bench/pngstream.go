package bench

import (
	"encoding/binary"
	"hash/crc32"
	"io"
)

// pngReader reads the encoding of a PNG, making it as it is read: the
// header bytes, then IDAT chunks of idatMax bytes of the zlib stream (the
// last one shorter), each followed by its CRC, then IEND.
type pngReader struct {
	p        *PNG
	pend     []byte // bytes to give before anything else
	buf      [8]byte
	zLeft    int64 // zlib stream bytes not yet in an IDAT chunk
	idatLeft int   // zlib stream bytes left in the current IDAT chunk
	crc      uint32
	ended    bool // IEND given

	// The zlib stream: header, stored deflate blocks over the rows,
	// adler32.
	zpend     []byte
	zbuf      [5]byte
	rawLeft   int64 // raw bytes not yet in a stored block
	blockLeft int   // raw bytes left in the current stored block
	y, off    int   // the next raw byte: row and offset in it
	adlerSent bool
}

var iendChunk = chunk("IEND", nil)

// newReader returns a reader of p's encoding with the chunk extra (may be
// nil) right after IHDR.
func (p *PNG) newReader(extra []byte) *pngReader {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(p.Width))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(p.Height))
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA; compression, filter, interlace 0
	head := append([]byte(pngSignature), chunk("IHDR", ihdr)...)
	raw := p.rawLen()
	r := &pngReader{p: p, pend: append(head, extra...), rawLeft: raw,
		zLeft: zlibOverhd + raw + 5*((raw+storedMax-1)/storedMax)}
	r.zpend = append(r.zbuf[:0], 0x78, 0x01)
	return r
}

// Read implements io.Reader.
func (r *pngReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		switch {
		case len(r.pend) > 0:
			k := copy(b[n:], r.pend)
			r.pend, n = r.pend[k:], n+k
		case r.idatLeft > 0:
			k := r.zread(b[n : n+min(len(b)-n, r.idatLeft)])
			r.crc = crc32.Update(r.crc, crc32.IEEETable, b[n:n+k])
			n, r.idatLeft = n+k, r.idatLeft-k
			if r.idatLeft == 0 {
				r.pend = binary.BigEndian.AppendUint32(r.buf[:0], r.crc)
			}
		case r.zLeft > 0:
			m := int(min(r.zLeft, idatMax))
			r.zLeft, r.idatLeft = r.zLeft-int64(m), m
			h := binary.BigEndian.AppendUint32(r.buf[:0], uint32(m))
			r.pend = append(h, "IDAT"...)
			r.crc = crc32.ChecksumIEEE(r.pend[4:])
		case !r.ended:
			r.pend, r.ended = iendChunk, true
		default:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
	}
	return n, nil
}

// zread writes the next bytes of the zlib stream into b, all of b unless
// the stream ends.
func (r *pngReader) zread(b []byte) int {
	n := 0
	for n < len(b) {
		switch {
		case len(r.zpend) > 0:
			k := copy(b[n:], r.zpend)
			r.zpend, n = r.zpend[k:], n+k
		case r.blockLeft > 0:
			row := r.p.pool[r.p.rowIndex(r.y)]
			k := copy(b[n:], row[r.off:r.off+min(len(row)-r.off, r.blockLeft)])
			n, r.blockLeft = n+k, r.blockLeft-k
			if r.off += k; r.off == len(row) {
				r.y, r.off = r.y+1, 0
			}
		case r.rawLeft > 0:
			m := int(min(r.rawLeft, storedMax))
			r.rawLeft, r.blockLeft = r.rawLeft-int64(m), m
			var final byte
			if r.rawLeft == 0 {
				final = 1
			}
			r.zpend = append(r.zbuf[:0], final, byte(m), byte(m>>8), ^byte(m), ^byte(m>>8))
		case !r.adlerSent:
			r.zpend, r.adlerSent = binary.BigEndian.AppendUint32(r.zbuf[:0], r.p.adler), true
		default:
			return n
		}
	}
	return n
}
