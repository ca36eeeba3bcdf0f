package imagecheck

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// apng turns a PNG into an APNG by inserting, after IHDR, an acTL chunk
// declaring declared frames and fctl fcTL chunks. PNG decoders ignore both.
func apng(p []byte, declared uint32, fctl int) []byte {
	const afterIHDR = 8 + 12 + 13
	actl := binary.BigEndian.AppendUint32(nil, declared)
	actl = binary.BigEndian.AppendUint32(actl, 0)
	out := cat(p[:afterIHDR], pngChunk("acTL", actl))
	for i := range fctl {
		fc := binary.BigEndian.AppendUint32(nil, uint32(i))
		fc = binary.BigEndian.AppendUint32(fc, 64)
		fc = binary.BigEndian.AppendUint32(fc, 48)
		fc = append(fc, make([]byte, 14)...)
		out = cat(out, pngChunk("fcTL", fc))
	}
	return cat(out, p[afterIHDR:])
}

// TestCheckStructure covers the container walks on variants built from the
// testdata images.
func TestCheckStructure(t *testing.T) {
	okPNG, okJPG := readTestdata(t, "ok.png"), readTestdata(t, "ok.jpg")
	okGIF, okWebP := readTestdata(t, "ok.gif"), readTestdata(t, "ok.webp")
	anim := readTestdata(t, "ok_animated.webp")
	jpgRes := Result{Type: TypeJPEG, Ext: "jpg", Width: 64, Height: 48, Frames: 1}
	tests := []struct {
		name      string
		data      []byte
		noDecode  bool // Policy.FullDecode = false
		want      Result
		code      string // 422 unless empty
		wantStage string // for corrupt_image
	}{
		{name: "apng frames from acTL", data: apng(okPNG, 5, 1), want: Result{Type: TypePNG, Ext: "png", Width: 64, Height: 48, Frames: 5}},
		{name: "apng frames from fcTL", data: apng(okPNG, 1, 3), want: Result{Type: TypePNG, Ext: "png", Width: 64, Height: 48, Frames: 3}},
		{name: "apng too many frames", data: apng(okPNG, 1001, 1), code: CodeTooManyFrames},
		{name: "png truncated", data: okPNG[:len(okPNG)-6], code: CodeCorruptImage, wantStage: "structure"},
		{name: "png without IEND", data: okPNG[:len(okPNG)-12], code: CodeCorruptImage, wantStage: "structure"},
		{name: "png without IDAT", data: cat(okPNG[:33], okPNG[len(okPNG)-12:]), noDecode: true, code: CodeCorruptImage, wantStage: "structure"},
		{name: "png zero after IEND", data: cat(okPNG, []byte{0}), code: CodeTrailingData},
		{name: "png huge chunk length", data: mutate(okPNG, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[bytes.Index(b, []byte("IDAT"))-4:], 0xFFFFFFF0)
			return b
		}), code: CodeCorruptImage, wantStage: "structure"},

		{name: "jpeg zero padding", data: cat(okJPG, make([]byte, 100)), want: jpgRes},
		{name: "jpeg with appended jpeg (MPF)", data: cat(okJPG, okJPG), want: jpgRes},
		{name: "jpeg, jpeg, junk", data: cat(okJPG, okJPG, []byte("x")), code: CodeTrailingData},
		{name: "jpeg, jpeg signature, html", data: cat(okJPG, []byte("\xff\xd8\xff<html>")), code: CodeTrailingData},
		{name: "jpeg zeros then junk", data: cat(okJPG, []byte{0, 0, 'x'}), code: CodeTrailingData},
		{name: "jpeg without EOI", data: okJPG[:len(okJPG)-2], code: CodeCorruptImage, wantStage: "structure"},
		{name: "jpeg extraneous bytes between segments", data: insertAfterFirstSegment(okJPG, []byte("junk")), want: jpgRes},

		{name: "jpeg without scan", data: cat(okJPG[:bytes.Index(okJPG, []byte{0xFF, 0xDA})], []byte{0xFF, 0xD9}),
			noDecode: true, code: CodeCorruptImage},
		{name: "jpeg 500 scans", data: repeatSOS(okJPG, 499), noDecode: true, want: jpgRes},
		{name: "jpeg 501 scans", data: repeatSOS(okJPG, 500), noDecode: true, code: CodeCorruptImage, wantStage: "structure"},

		{name: "gif trailing zero", data: cat(okGIF, []byte{0}), code: CodeTrailingData},
		{name: "gif without trailer", data: okGIF[:len(okGIF)-1], code: CodeCorruptImage},
		{name: "gif frame outside screen", data: mutate(okGIF, func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[6:], 16)
			return b
		}), noDecode: true, code: CodeCorruptImage, wantStage: "structure"},
		{name: "gif unknown block", data: cat(okGIF[:len(okGIF)-1], []byte{0x99, 0x3B}), code: CodeCorruptImage, wantStage: "structure"},
		{name: "gif without frames", data: cat(okGIF[:13+12], []byte{0x3B}), noDecode: true, code: CodeCorruptImage, wantStage: "structure"},

		{name: "webp trailing data", data: cat(okWebP, []byte("<html>")), code: CodeTrailingData},
		{name: "webp truncated", data: okWebP[:len(okWebP)-10], code: CodeCorruptImage},
		{name: "webp chunk beyond RIFF", data: mutate(okWebP, func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[16:], uint32(len(b)))
			return b
		}), noDecode: true, code: CodeCorruptImage},
		{name: "webp huge VP8X canvas", data: webpFile(chunk("VP8X", cat([]byte{0, 0, 0, 0}, le24b(19999), le24b(19999))),
			chunk("VP8L", vp8lPattern(32, 32, 0))), code: CodeDimensionsTooLarge},
		{name: "webp VP8X without image", data: webpFile(chunk("VP8X", cat([]byte{0, 0, 0, 0}, le24b(31), le24b(31)))),
			noDecode: true, code: CodeCorruptImage, wantStage: "structure"},
		{name: "webp VP8X still", data: webpFile(chunk("VP8X", cat([]byte{0, 0, 0, 0}, le24b(31), le24b(31))),
			chunk("VP8L", vp8lPattern(32, 32, 0))), want: Result{Type: TypeWebP, Ext: "webp", Width: 32, Height: 32, Frames: 1}},
		{name: "webp VP8X still, bitstream larger than canvas", data: webpFile(chunk("VP8X", cat([]byte{0, 0, 0, 0}, le24b(15), le24b(15))),
			chunk("VP8L", vp8lPattern(32, 32, 0))), code: CodeCorruptImage, wantStage: "decode"},
		{name: "animated webp without frames", data: webpFile(chunk("VP8X", cat([]byte{2, 0, 0, 0}, le24b(31), le24b(31)))),
			noDecode: true, code: CodeCorruptImage, wantStage: "structure"},
		{name: "animated webp ANMF beyond RIFF", data: mutate(anim, func(b []byte) []byte {
			i := bytes.Index(b, []byte("ANMF"))
			binary.LittleEndian.PutUint32(b[i+4:], uint32(len(b)))
			return b
		}), code: CodeCorruptImage, wantStage: "structure"},
		{name: "animated webp frame outside canvas", data: animWithFrame(16, 32, 32, vp8lPattern(32, 32, 0)),
			code: CodeCorruptImage, wantStage: "structure"},
		{name: "animated webp frame bitstream larger than frame", data: animWithFrame(0, 16, 16, vp8lPattern(32, 32, 0)),
			code: CodeCorruptImage, wantStage: "decode"},
		{name: "animated webp bad frame passes without full decode", data: animWithFrame(0, 16, 16, vp8lPattern(32, 32, 0)),
			noDecode: true, want: Result{Type: TypeWebP, Ext: "webp", Width: 32, Height: 32, Frames: 1}},
		{name: "animated webp frame without bitstream", data: animWithFrame(0, 32, 32, nil),
			code: CodeCorruptImage, wantStage: "decode"},
		{name: "animated webp corrupt frame", data: mutate(anim, func(b []byte) []byte {
			i := bytes.LastIndex(b, []byte("VP8L"))
			return cat(b[:i+8+8], bytes.Repeat([]byte{0xFF}, len(b)-i-16))
		}), code: CodeCorruptImage, wantStage: "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultPolicy()
			p.FullDecode = !tt.noDecode
			got, err := check(newChecker(t, p), tt.data, Meta{})
			if tt.code != "" {
				e := wantHTTPErr(t, err, 422, tt.code)
				if tt.wantStage != "" && e.Detail["stage"] != tt.wantStage {
					t.Errorf("stage = %v, want %s (cause %v)", e.Detail["stage"], tt.wantStage, e.Cause)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got != tt.want {
				t.Errorf("result = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// animWithFrame builds a 32x32 animated WebP with one w x h ANMF frame at
// (x, 0) holding bitstream as its VP8L chunk (no chunk when nil).
func animWithFrame(x, w, h int, bitstream []byte) []byte {
	hdr := cat(le24b(x/2), le24b(0), le24b(w-1), le24b(h-1), le24b(100), []byte{0})
	var data []byte
	if bitstream != nil {
		data = chunk("VP8L", bitstream)
	}
	return webpFile(chunk("VP8X", cat([]byte{2, 0, 0, 0}, le24b(31), le24b(31))),
		chunk("ANIM", make([]byte, 6)), chunk("ANMF", cat(hdr, data)))
}

// insertAfterFirstSegment inserts junk after the first marker segment that
// follows SOI in a JPEG.
func insertAfterFirstSegment(j, junk []byte) []byte {
	end := 4 + int(binary.BigEndian.Uint16(j[4:]))
	return cat(j[:end], junk, j[end:])
}

// repeatSOS inserts n copies of a baseline JPEG's SOS header (without entropy
// data) before its SOS segment.
func repeatSOS(j []byte, n int) []byte {
	pos := 2
	for j[pos+1] != 0xDA {
		pos += 2 + int(binary.BigEndian.Uint16(j[pos+2:]))
	}
	sos := j[pos : pos+2+int(binary.BigEndian.Uint16(j[pos+2:]))]
	return cat(j[:pos], bytes.Repeat(sos, n), j[pos:])
}
