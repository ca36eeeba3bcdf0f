package imagecheck

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tusimg/tusimg/pkg/httperr"
)

// Codes of the *httperr.Error values this package returns. They are stable
// and form a fixed set, suitable as metric label values.
const (
	CodeTooLarge             = "too_large"              // 413: over Policy.MaxSize
	CodeEmpty                = "empty"                  // 422: under Policy.MinSize (usually 0 bytes)
	CodeTypeNotAllowed       = "type_not_allowed"       // 415: sniffed, declared or extension type not allowed
	CodeExtensionMismatch    = "extension_mismatch"     // 422: filename extension disagrees with the content
	CodeDeclaredTypeMismatch = "declared_type_mismatch" // 422: declared type disagrees with content or extension
	CodeCorruptImage         = "corrupt_image"          // 422: header, structure or pixel data invalid
	CodeDimensionsTooLarge   = "dimensions_too_large"   // 422: width, height or pixels over the limit
	CodeTooManyFrames        = "too_many_frames"        // 422: frames or frames x pixels over the limit
	CodeTrailingData         = "trailing_data"          // 422: bytes after the end of the image
	CodeBusy                 = "busy"                   // 503: ctx ended while waiting for a decode slot
)

// structError describes a structural defect of an image. Its text is
// internal: it becomes an httperr Cause, never a Message.
type structError string

func (e structError) Error() string { return "imagecheck: " + string(e) }

// errTruncated reports data ending before the structure says it should.
var errTruncated = structError("unexpected end of image data")

// readError is a failure of the caller's io.ReaderAt, not of the image.
type readError struct{ err error }

func (e *readError) Error() string { return "imagecheck: read: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

func errTooLarge(size, limit int64) error {
	return httperr.Newf(http.StatusRequestEntityTooLarge, CodeTooLarge,
		"file is %d bytes, more than the limit of %d bytes", size, limit).
		WithDetail("size", size).WithDetail("max_size", limit)
}

func errEmpty(size, limit int64) error {
	msg := "file is empty"
	if size > 0 {
		msg = fmt.Sprintf("file is %d bytes, less than the minimum of %d bytes", size, limit)
	}
	return httperr.New(http.StatusUnprocessableEntity, CodeEmpty, msg).
		WithDetail("size", size).WithDetail("min_size", limit)
}

func (c *Checker) errTypeNotAllowed(sniffed string) error {
	return httperr.Newf(http.StatusUnsupportedMediaType, CodeTypeNotAllowed,
		"file content is %s, not an allowed image type (allowed: %s)", sniffed, strings.Join(c.allowedList, ", ")).
		WithDetail("sniffed_type", sniffed).WithDetail("allowed_types", slices.Clone(c.allowedList))
}

func (c *Checker) errExtNotAllowed(ext string) error {
	exts := make([]string, 0, len(extTypes))
	for _, t := range c.allowedList {
		for _, e := range extsByType[t] {
			exts = append(exts, "."+e)
		}
	}
	return httperr.Newf(http.StatusUnsupportedMediaType, CodeTypeNotAllowed,
		"filename extension %q is not an allowed image type (allowed: %s)", "."+public(ext), strings.Join(exts, ", ")).
		WithDetail("extension", public(ext)).WithDetail("allowed_types", slices.Clone(c.allowedList))
}

func (c *Checker) errDeclaredNotAllowed(declared string) error {
	return httperr.Newf(http.StatusUnsupportedMediaType, CodeTypeNotAllowed,
		"declared file type %q is not an allowed image type (allowed: %s)", public(declared), strings.Join(c.allowedList, ", ")).
		WithDetail("declared_type", public(declared)).WithDetail("allowed_types", slices.Clone(c.allowedList))
}

func errDeclaredVsExt(ext, declared string) error {
	return httperr.Newf(http.StatusUnprocessableEntity, CodeDeclaredTypeMismatch,
		"filename extension %q does not match the declared file type %q", "."+public(ext), public(declared)).
		WithDetail("extension", public(ext)).WithDetail("declared_type", public(declared))
}

func errExtMismatch(ext, sniffed string) error {
	return httperr.Newf(http.StatusUnprocessableEntity, CodeExtensionMismatch,
		"filename extension %q does not match the file content, which is %s (use .%s)", "."+public(ext), sniffed, ExtForType(sniffed)).
		WithDetail("extension", public(ext)).WithDetail("sniffed_type", sniffed)
}

func errDeclaredMismatch(declared, sniffed string) error {
	return httperr.Newf(http.StatusUnprocessableEntity, CodeDeclaredTypeMismatch,
		"declared file type %q does not match the file content, which is %s", public(declared), sniffed).
		WithDetail("declared_type", public(declared)).WithDetail("sniffed_type", sniffed)
}

// errCorrupt reports an invalid image; stage says which check found it
// ("header", "structure" or "decode"). cause is internal.
func errCorrupt(typ, stage string, cause error) error {
	return httperr.Newf(http.StatusUnprocessableEntity, CodeCorruptImage,
		"file is not a valid %s image: it is corrupt or truncated", typeName(typ)).
		WithDetail("sniffed_type", typ).WithDetail("stage", stage).WithCause(cause)
}

// classify turns an error from reading or parsing into the error Check
// returns: the caller's read failures are internal, the rest is a corrupt image.
func classify(typ, stage string, err error) error {
	var re *readError
	if errors.As(err, &re) {
		return httperr.Internal(err)
	}
	return errCorrupt(typ, stage, err)
}

func errTrailing(end, size int64) error {
	return httperr.Newf(http.StatusUnprocessableEntity, CodeTrailingData,
		"file has %d bytes of extra data after the end of the image", size-end).
		WithDetail("image_end", end).WithDetail("size", size).WithDetail("trailing_bytes", size-end)
}

func (c *Checker) errDimensions(w, h int) error {
	p := c.p
	return httperr.Newf(http.StatusUnprocessableEntity, CodeDimensionsTooLarge,
		"image is %dx%d pixels, more than the limits of %dx%d and %d pixels in total",
		w, h, p.MaxWidth, p.MaxHeight, p.MaxPixels).
		WithDetail("width", w).WithDetail("height", h).WithDetail("pixels", int64(w)*int64(h)).
		WithDetail("max_width", p.MaxWidth).WithDetail("max_height", p.MaxHeight).
		WithDetail("max_pixels", p.MaxPixels)
}

func (c *Checker) errFrames(frames int, total int64) error {
	p := c.p
	e := httperr.Newf(http.StatusUnprocessableEntity, CodeTooManyFrames,
		"animation has %d frames, more than the limit of %d", frames, p.MaxFrames)
	if frames <= p.MaxFrames {
		e = httperr.Newf(http.StatusUnprocessableEntity, CodeTooManyFrames,
			"animation has %d frames of %d pixels in total, more than the limit of %d pixels",
			frames, total, p.MaxTotalPixels)
	}
	return e.WithDetail("frames", frames).WithDetail("total_pixels", total).
		WithDetail("max_frames", p.MaxFrames).WithDetail("max_total_pixels", p.MaxTotalPixels)
}

func errBusy(cause error) error {
	return httperr.New(http.StatusServiceUnavailable, CodeBusy,
		"the server is busy checking other images, please retry").WithCause(cause)
}

// typeName is the human name of a supported type ("PNG").
func typeName(typ string) string {
	return map[string]string{TypeJPEG: "JPEG", TypePNG: "PNG", TypeGIF: "GIF", TypeWebP: "WebP"}[typ]
}
