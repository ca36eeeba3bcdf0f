package imagecheck

import "strings"

// extsByType lists the filename extensions of each supported type, the
// canonical one first.
var extsByType = map[string][]string{
	TypeJPEG: {"jpg", "jpeg", "jpe", "jfif"},
	TypePNG:  {"png"},
	TypeGIF:  {"gif"},
	TypeWebP: {"webp"},
}

// extTypes maps lowercase filename extensions to the type they announce.
var extTypes = func() map[string]string {
	m := make(map[string]string)
	for t, exts := range extsByType {
		for _, e := range exts {
			m[e] = t
		}
	}
	return m
}()

// declaredAliases maps non-standard names clients send for supported types.
var declaredAliases = map[string]string{
	"image/jpg":   TypeJPEG,
	"image/pjpeg": TypeJPEG,
	"image/x-png": TypePNG,
	"image/apng":  TypePNG,
}

// ExtForType returns the canonical extension, without a dot, of a supported
// MIME type: "image/jpeg" -> "jpg", "image/png" -> "png", "image/gif" -> "gif",
// "image/webp" -> "webp". It ignores case and parameters and returns "" for any
// other type.
func ExtForType(mime string) string {
	if exts := extsByType[baseType(mime)]; len(exts) > 0 {
		return exts[0]
	}
	return ""
}

// TypeForExt returns the MIME type a filename extension announces: jpg, jpeg,
// jpe and jfif -> image/jpeg, png -> image/png, gif -> image/gif, webp ->
// image/webp. The extension is matched case-insensitively, with or without a
// leading dot. ok is false for any other extension. It does not consult a
// Policy.
func TypeForExt(ext string) (mime string, ok bool) {
	mime, ok = extTypes[strings.ToLower(strings.TrimPrefix(ext, "."))]
	return mime, ok
}

// baseType returns the lowercase media type of s without parameters.
func baseType(s string) string {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// declaredType normalises a client-declared type: parameters and case are
// ignored, common aliases (image/jpg, image/x-png, ...) are mapped to the
// standard name, and "application/octet-stream", which clients send when they
// do not know, counts as no declaration ("").
func declaredType(s string) string {
	t := baseType(s)
	if a, ok := declaredAliases[t]; ok {
		return a
	}
	if t == "application/octet-stream" {
		return ""
	}
	return t
}

// fileExt returns the extension of the last path element of name without the
// dot, or "" when it has none.
func fileExt(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return ""
	}
	return name[i+1:]
}

// public shortens a client-supplied string before it is echoed in an error:
// at most 64 bytes of valid UTF-8.
func public(s string) string {
	const limit = 64
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
