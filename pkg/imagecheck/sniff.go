package imagecheck

import (
	"github.com/gabriel-vasile/mimetype"
)

// SniffLen is the number of leading bytes Sniff judges: the upload store
// sniffs once this many bytes (or the whole upload, if smaller) have arrived.
const SniffLen = 3072

// Sniff judges the first bytes of an upload: up to SniffLen bytes, fewer only
// when the whole upload is smaller (a longer prefix is cut to SniffLen). It
// returns the sniffed MIME type when it is in the Policy's allow-list, else a
// 415 type_not_allowed *httperr.Error naming the sniffed type. An animated PNG
// (which mimetype calls image/apng) is reported as image/png.
func (c *Checker) Sniff(prefix []byte) (string, error) {
	t := sniffType(prefix)
	if c.allowed[t] {
		return t, nil
	}
	return "", c.errTypeNotAllowed(t)
}

// sniffType returns the media type, without parameters, that mimetype detects
// in at most SniffLen bytes of prefix.
func sniffType(prefix []byte) string {
	if len(prefix) > SniffLen {
		prefix = prefix[:SniffLen]
	}
	t := baseType(mimetype.Detect(prefix).String())
	if t == "image/apng" {
		// An APNG is a PNG whose first frame every PNG decoder shows; its
		// frames are counted like those of other animations.
		t = TypePNG
	}
	return t
}

// Meta is the client's description of an upload, taken from its metadata.
// Either field may be empty.
type Meta struct {
	// Filename is the client's original file name; only its extension is used.
	Filename string
	// DeclaredType is the client's claimed MIME type ("filetype" metadata).
	DeclaredType string
}

// CheckDeclared judges client metadata before any byte arrives (tus
// pre-create). A filename extension that maps to no allowed type, or a
// declared type not in the allow-list, is a 415 type_not_allowed; an extension
// and a declared type that disagree with each other are a 422
// declared_type_mismatch. Empty values and filenames without an extension
// pass. Declared types are compared case-insensitively with parameters
// ignored; the aliases image/jpg, image/pjpeg, image/x-png and image/apng are
// understood, and application/octet-stream counts as no declaration.
func (c *Checker) CheckDeclared(m Meta) error {
	ext := fileExt(m.Filename)
	var extType string
	if ext != "" {
		t, ok := TypeForExt(ext)
		if !ok || !c.allowed[t] {
			return c.errExtNotAllowed(ext)
		}
		extType = t
	}
	declared := declaredType(m.DeclaredType)
	if declared == "" {
		return nil
	}
	if !c.allowed[declared] {
		return c.errDeclaredNotAllowed(baseType(m.DeclaredType))
	}
	if extType != "" && extType != declared {
		return errDeclaredVsExt(ext, baseType(m.DeclaredType))
	}
	return nil
}

// checkMeta compares the client's metadata with the sniffed type typ.
func (c *Checker) checkMeta(typ string, m Meta) error {
	if ext := fileExt(m.Filename); ext != "" {
		if t, ok := TypeForExt(ext); !ok || t != typ {
			return errExtMismatch(ext, typ)
		}
	}
	if d := declaredType(m.DeclaredType); d != "" && d != typ {
		return errDeclaredMismatch(baseType(m.DeclaredType), typ)
	}
	return nil
}
