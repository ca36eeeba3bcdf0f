package serve

import (
	"errors"
	"strings"

	"github.com/tusimg/tusimg/pkg/imagecheck"
)

// maxExtLen bounds the extension ParseName accepts; real ones have 3 or 4.
const maxExtLen = 10

// errBadName is ParseName's only error; its text is for logs.
var errBadName = errors.New("serve: image name is not <64 lowercase hex>[.<ext>]")

// ParseName splits an image name from the URL, "<sha256>" or
// "<sha256>.<ext>", into hash and extension. It accepts exactly
// ^[0-9a-f]{64}(\.[a-z]{1,10})?$ and rejects everything else (uppercase hex,
// other lengths, dots, slashes, NUL, empty), without touching storage. ext is
// "" when the name has none.
func ParseName(name string) (sha, ext string, err error) {
	if len(name) < 64 || !isLowerHex(name[:64]) {
		return "", "", errBadName
	}
	sha, rest := name[:64], name[64:]
	if rest == "" {
		return sha, "", nil
	}
	ext = rest[1:]
	if rest[0] != '.' || len(ext) == 0 || len(ext) > maxExtLen || !isLowerAlpha(ext) {
		return "", "", errBadName
	}
	return sha, ext, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isLowerAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// extMatches reports whether a URL extension names the stored image: it is
// the record's own extension or an alias of its type (jpg, jpeg, jpe).
func extMatches(ext, storedExt, storedType string) bool {
	if ext == storedExt {
		return true
	}
	t, ok := imagecheck.TypeForExt(ext)
	return ok && t == storedType
}

// servedType returns the Content-Type to send for a stored type: the type
// itself when it is a plain image/<token> other than SVG (the one image type
// that carries script), else application/octet-stream with safe false, so a
// record with an unexpected type never makes a browser render active content.
func servedType(stored string) (ctype string, safe bool) {
	sub, ok := strings.CutPrefix(stored, "image/")
	if !ok || sub == "" || strings.Contains(sub, "svg") || !isToken(sub) {
		return "application/octet-stream", false
	}
	return stored, true
}

// isToken reports whether s has only lowercase letters, digits, '.', '+' and
// '-' (no parameters, no whitespace, no separators).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '.' && c != '+' && c != '-' {
			return false
		}
	}
	return true
}
