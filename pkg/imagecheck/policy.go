package imagecheck

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
)

// The MIME types imagecheck can accept. They are the only valid values of
// Policy.AllowedTypes.
const (
	TypeJPEG = "image/jpeg"
	TypePNG  = "image/png"
	TypeGIF  = "image/gif"
	TypeWebP = "image/webp"
)

// supportedTypes lists the supported types in their canonical order, used for
// messages and defaults.
var supportedTypes = []string{TypeJPEG, TypePNG, TypeGIF, TypeWebP}

// Policy holds the limits Check enforces. Start from DefaultPolicy and change
// fields; the zero value is invalid. A Policy is a plain value: copying it is
// safe.
type Policy struct {
	// MaxSize is the largest accepted upload in bytes. Default 50 MiB.
	MaxSize int64
	// MinSize is the smallest accepted upload in bytes, at least 1. Default 1.
	MinSize int64
	// AllowedTypes lists the accepted MIME types, a subset of image/jpeg,
	// image/png, image/gif and image/webp (case-insensitive). Default all four.
	AllowedTypes []string
	// MaxWidth is the largest accepted width in pixels. Default 16384.
	MaxWidth int
	// MaxHeight is the largest accepted height in pixels. Default 16384.
	MaxHeight int
	// MaxPixels is the largest accepted width x height. Default 50,000,000.
	MaxPixels int64
	// MaxFrames is the largest accepted number of animation frames. Default 1000.
	MaxFrames int
	// MaxTotalPixels is the largest accepted frames x width x height, at least
	// MaxPixels. Default 4 x MaxPixels.
	MaxTotalPixels int64
	// FullDecode makes Check decode every pixel after the header checks, which
	// catches truncated and corrupt bodies. Default true.
	FullDecode bool
	// FullDecodeMaxPixels is the largest frames x width x height that is
	// fully decoded; bigger images (allowed only when the pixel limits are
	// raised above their defaults) get every check but the pixel decode, so
	// publishing a huge image is not an O(size) pause holding O(pixels)
	// memory. 0 means no bound. Default 50,000,000 (the default MaxPixels:
	// with default limits every accepted image is fully decoded).
	FullDecodeMaxPixels int64
	// MaxConcurrentDecodes bounds the number of full decodes running at once
	// per Checker. Default runtime.NumCPU().
	MaxConcurrentDecodes int
}

// DefaultPolicy returns the safe defaults described on each Policy field.
func DefaultPolicy() Policy {
	const maxPixels = 50_000_000
	return Policy{
		MaxSize:              50 << 20,
		MinSize:              1,
		AllowedTypes:         append([]string(nil), supportedTypes...),
		MaxWidth:             16384,
		MaxHeight:            16384,
		MaxPixels:            maxPixels,
		MaxFrames:            1000,
		MaxTotalPixels:       4 * maxPixels,
		FullDecode:           true,
		FullDecodeMaxPixels:  maxPixels,
		MaxConcurrentDecodes: runtime.NumCPU(),
	}
}

// Validate reports every problem of p at once, joined with errors.Join. Each
// problem is a plain error whose text starts with the field name, e.g.
// "MaxWidth: must be at least 1, got 0". It returns nil for a valid Policy.
func (p Policy) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf(field+": "+format, args...))
	}
	if p.MaxSize < 1 {
		bad("MaxSize", "must be at least 1 byte, got %d", p.MaxSize)
	}
	if p.MinSize < 1 {
		bad("MinSize", "must be at least 1 byte (an empty file is never an image), got %d", p.MinSize)
	} else if p.MaxSize >= 1 && p.MinSize > p.MaxSize {
		bad("MinSize", "%d must not exceed MaxSize %d", p.MinSize, p.MaxSize)
	}
	if len(p.AllowedTypes) == 0 {
		bad("AllowedTypes", "must list at least one of %s", strings.Join(supportedTypes, ", "))
	}
	for _, t := range p.AllowedTypes {
		if !isSupported(baseType(t)) {
			bad("AllowedTypes", "%q is not supported (supported: %s)", t, strings.Join(supportedTypes, ", "))
		}
	}
	if p.MaxWidth < 1 {
		bad("MaxWidth", "must be at least 1, got %d", p.MaxWidth)
	}
	if p.MaxHeight < 1 {
		bad("MaxHeight", "must be at least 1, got %d", p.MaxHeight)
	}
	if p.MaxPixels < 1 {
		bad("MaxPixels", "must be at least 1, got %d", p.MaxPixels)
	}
	if p.MaxFrames < 1 {
		bad("MaxFrames", "must be at least 1, got %d", p.MaxFrames)
	}
	if p.MaxTotalPixels < 1 {
		bad("MaxTotalPixels", "must be at least 1, got %d", p.MaxTotalPixels)
	} else if p.MaxPixels >= 1 && p.MaxTotalPixels < p.MaxPixels {
		bad("MaxTotalPixels", "%d must be at least MaxPixels %d", p.MaxTotalPixels, p.MaxPixels)
	}
	if p.MaxConcurrentDecodes < 1 {
		bad("MaxConcurrentDecodes", "must be at least 1, got %d", p.MaxConcurrentDecodes)
	}
	return errors.Join(errs...)
}

func isSupported(t string) bool { return slices.Contains(supportedTypes, t) }
