package imagecheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/tusimg/tusimg/pkg/httperr"
)

// Result describes an accepted image.
type Result struct {
	// Type is the sniffed MIME type, one of the Policy's AllowedTypes.
	Type string
	// Ext is the canonical extension of Type without a dot ("jpg").
	Ext string
	// Width and Height are the image's (or animation canvas's) size in pixels.
	Width, Height int
	// Frames is the number of frames: 1 for a still image.
	Frames int
}

// Check runs every check of the Policy on a complete upload of size bytes
// readable through r, cheapest first, and returns the image's description or
// an *httperr.Error:
//
//  1. size: over MaxSize 413 too_large, under MinSize 422 empty;
//  2. sniffed type (first SniffLen bytes) not allowed: 415 type_not_allowed;
//  3. m.Filename's extension, when it has one, not naming the sniffed type:
//     422 extension_mismatch; m.DeclaredType, when given, not naming it:
//     422 declared_type_mismatch;
//  4. header unreadable: 422 corrupt_image;
//  5. width, height or pixels over the limits: 422 dimensions_too_large,
//     decided on the header before any pixel is decoded;
//  6. container structure walked without decoding pixels (PNG chunks, JPEG
//     markers, GIF blocks, WebP RIFF chunks): broken or truncated 422
//     corrupt_image; frames or frames x pixels over the limits 422
//     too_many_frames; bytes after the image end (after PNG IEND, the GIF
//     trailer, the RIFF length, or JPEG EOI apart from zero padding and
//     appended Multi-Picture-Format images) 422 trailing_data, which rejects
//     polyglots such as PNG+ZIP or JPEG+HTML;
//  7. if FullDecode, a full decode of all frames, waiting for one of the
//     MaxConcurrentDecodes slots: a corrupt or truncated body is 422
//     corrupt_image; ctx ending before a slot is free is 503 busy wrapping
//     ctx's error.
//
// A failure of r is a 500 internal_error whose message reveals nothing.
// Check is safe for concurrent use.
func (c *Checker) Check(ctx context.Context, r io.ReaderAt, size int64, m Meta) (Result, error) {
	if err := c.checkSize(size); err != nil {
		return Result{}, err
	}
	if _, inMemory := r.(interface{ Bytes() []byte }); size <= wholeMax && !inMemory {
		if b := wholeBufs.Get().(*[]byte); readWhole(r, (*b)[:size]) {
			defer wholeBufs.Put(b)
			r = bytes.NewReader((*b)[:size])
		} else {
			wholeBufs.Put(b)
		}
	}
	s := newSource(r, size)
	defer s.release()
	prefix, err := s.at(0, int(min(size, SniffLen)))
	if err != nil {
		return Result{}, httperr.Internal(err)
	}
	typ, err := c.Sniff(prefix)
	if err != nil {
		return Result{}, err
	}
	if err := c.checkMeta(typ, m); err != nil {
		return Result{}, err
	}
	cfg, err := decodeConfig(typ, s)
	if err != nil {
		return Result{}, classify(typ, "header", err)
	}
	res := Result{Type: typ, Ext: ExtForType(typ), Width: cfg.Width, Height: cfg.Height}
	if err := c.checkDimensions(typ, res.Width, res.Height); err != nil {
		return Result{}, err
	}
	lay, err := walk(typ, s, c.p.MaxFrames)
	if err != nil {
		return Result{}, classify(typ, "structure", err)
	}
	res.Frames = lay.frames
	total := int64(res.Frames) * int64(res.Width) * int64(res.Height)
	if res.Frames > c.p.MaxFrames || total > c.p.MaxTotalPixels {
		return Result{}, c.errFrames(res.Frames, total)
	}
	if lay.end < size {
		return Result{}, errTrailing(lay.end, size)
	}
	if c.p.FullDecode && (c.p.FullDecodeMaxPixels <= 0 || total <= c.p.FullDecodeMaxPixels) {
		if err := c.fullDecode(ctx, typ, r, size, res, lay); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// wholeMax is the size up to which Check reads the upload once, with one
// ReadAt, and runs every pass (sniff, header, structure, full decode) on
// the copy in memory, instead of reading windows again for each pass. A
// ReaderAt that has a Bytes() []byte method is in memory already and is
// read as it is.
const wholeMax = 256 << 10

var wholeBufs = sync.Pool{New: func() any { b := make([]byte, wholeMax); return &b }}

// readWhole fills b from r at offset 0, reporting whether all of it came.
// When not, the caller reads through r again, which reports the problem.
func readWhole(r io.ReaderAt, b []byte) bool {
	n, _ := r.ReadAt(b, 0)
	return n == len(b)
}

// checkSize applies MaxSize and MinSize.
func (c *Checker) checkSize(size int64) error {
	switch {
	case size < 0:
		return httperr.Internal(fmt.Errorf("imagecheck: negative size %d", size))
	case size > c.p.MaxSize:
		return errTooLarge(size, c.p.MaxSize)
	case size < c.p.MinSize:
		return errEmpty(size, c.p.MinSize)
	}
	return nil
}

// checkDimensions applies MaxWidth, MaxHeight and MaxPixels to the header's
// size; a size below 1x1 is a corrupt header.
func (c *Checker) checkDimensions(typ string, w, h int) error {
	if w < 1 || h < 1 {
		return errCorrupt(typ, "header", fmt.Errorf("imagecheck: dimensions %dx%d", w, h))
	}
	if w > c.p.MaxWidth || h > c.p.MaxHeight || int64(w)*int64(h) > c.p.MaxPixels {
		return c.errDimensions(w, h)
	}
	return nil
}

// fullDecode decodes every pixel while holding a decode slot.
func (c *Checker) fullDecode(ctx context.Context, typ string, r io.ReaderAt, size int64, res Result, lay layout) error {
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer c.release()
	if err := decodeFull(typ, r, size, res.Width, res.Height, lay); err != nil {
		return classify(typ, "decode", err)
	}
	return nil
}
