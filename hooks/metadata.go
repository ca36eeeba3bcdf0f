package hooks

import (
	"encoding/base64"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tusimg/tusimg/pkg/httperr"
)

// ParseMetadata parses a tus Upload-Metadata header strictly (tus 1.0
// "Upload-Metadata"): comma-separated pairs of a key and an optional base64
// value separated by one space. Unlike tusd, which silently drops bad pairs,
// any malformed pair, an empty or duplicate key, a key with spaces or commas,
// an oversized header or too many keys is a 400 error naming the problem.
// Values must be valid UTF-8 without NUL bytes.
func ParseMetadata(header string, maxBytes, maxKeys int) (map[string]string, error) {
	meta := map[string]string{}
	if len(header) > maxBytes {
		return nil, badMeta("Upload-Metadata is %d bytes, more than the limit of %d", len(header), maxBytes).
			WithDetail("limit", maxBytes)
	}
	if strings.TrimSpace(header) == "" {
		return meta, nil
	}
	for _, pair := range strings.Split(header, ",") {
		pair = strings.Trim(pair, " \t")
		key, value, hasValue := strings.Cut(pair, " ")
		if key == "" {
			return nil, badMeta("Upload-Metadata has an empty key")
		}
		if !validKey(key) {
			return nil, badMeta("Upload-Metadata key %q contains characters that are not allowed", clip(key))
		}
		if _, dup := meta[key]; dup {
			return nil, badMeta("Upload-Metadata key %q appears twice", key)
		}
		if len(meta) == maxKeys {
			return nil, badMeta("Upload-Metadata has more than %d keys", maxKeys).WithDetail("limit", maxKeys)
		}
		decoded := ""
		if hasValue {
			b, err := base64.StdEncoding.Strict().DecodeString(value)
			if err != nil {
				return nil, badMeta("Upload-Metadata value of %q is not valid base64", key)
			}
			if !utf8.Valid(b) || strings.ContainsRune(string(b), 0) {
				return nil, badMeta("Upload-Metadata value of %q is not valid UTF-8 text", key)
			}
			decoded = string(b)
		}
		meta[key] = decoded
	}
	return meta, nil
}

func badMeta(format string, args ...any) *httperr.Error {
	return httperr.Newf(http.StatusBadRequest, "bad_metadata", format, args...)
}

// validKey accepts printable ASCII without space and comma, as tus 1.0 asks.
func validKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f || c == ',' {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// SanitizeFilename keeps only the base name of a client file name, without
// control characters or NUL, at most 255 bytes of valid UTF-8.
func SanitizeFilename(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "." || name == ".." {
		return ""
	}
	return name
}

// metaValue returns the first non-empty value among keys (tus-js-client and
// Uppy send "filename"/"filetype", Uppy also "name"/"type").
func metaValue(meta map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := meta[k]; v != "" {
			return v
		}
	}
	return ""
}
