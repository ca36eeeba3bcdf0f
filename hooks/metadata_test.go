package hooks

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tusimg/tusimg/pkg/httperr"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseMetadata(t *testing.T) {
	ok := []struct {
		header string
		want   map[string]string
	}{
		{"", map[string]string{}},
		{"filename " + b64("a.png"), map[string]string{"filename": "a.png"}},
		{"filename " + b64("a.png") + ",is_confidential", map[string]string{"filename": "a.png", "is_confidential": ""}},
		{" filename " + b64("ü.png") + " , filetype " + b64("image/png"), map[string]string{"filename": "ü.png", "filetype": "image/png"}},
	}
	for _, c := range ok {
		got, err := ParseMetadata(c.header, 4096, 32)
		if err != nil {
			t.Errorf("%q: %v", c.header, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%q: got %v want %v", c.header, got, c.want)
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%q: %s=%q want %q", c.header, k, got[k], v)
			}
		}
	}
	bad := []struct{ name, header string }{
		{"bad base64", "filename !!!"},
		{"unpadded base64", "filename YQ"},
		{"duplicate key", "a " + b64("1") + ",a " + b64("2")},
		{"empty key", ",a " + b64("1")},
		{"three parts", "a " + b64("1") + " " + b64("2")},
		{"NUL in value", "filename " + b64("a\x00.png")},
		{"invalid UTF-8", "filename " + b64("\xff\xfe")},
		{"non-ASCII key", "fïle " + b64("x")},
		{"too large", "filename " + b64(strings.Repeat("a", 5000))},
		{"too many keys", strings.Repeat("k"+",", 0) + manyKeys(33)},
	}
	for _, c := range bad {
		_, err := ParseMetadata(c.header, 4096, 32)
		e, isHTTP := err.(*httperr.Error)
		if err == nil || !isHTTP || e.Status != 400 || e.Code != "bad_metadata" {
			t.Errorf("%s: err %v, want 400 bad_metadata", c.name, err)
		}
	}
}

func manyKeys(n int) string {
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, "k"+strings.Repeat("x", i))
	}
	return strings.Join(parts, ",")
}

func TestSanitizeFilename(t *testing.T) {
	cases := map[string]string{
		"cat.png":                "cat.png",
		"../../etc/passwd":       "passwd",
		`C:\Users\me\photo.jpg`:  "photo.jpg",
		"a\x00b\x1fc.png":        "abc.png",
		"..":                     "",
		"  spaced.png  ":         "spaced.png",
		strings.Repeat("é", 200): strings.Repeat("é", 127),
	}
	for in, want := range cases {
		if got := SanitizeFilename(in); got != want {
			t.Errorf("SanitizeFilename(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseMetadata: any header either parses into keys that re-serialise
// to a header parsing to the same map, or fails with a 400; never panics.
func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{"", "filename " + b64("a.png"), "a,b,c", "a !!", "a " + b64("x") + ",a", ",,", " a  b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		m, err := ParseMetadata(header, 4096, 32)
		if err != nil {
			if e, ok := err.(*httperr.Error); !ok || e.Status != 400 {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		var parts []string
		for k, v := range m {
			if !validKey(k) || strings.ContainsRune(v, 0) {
				t.Fatalf("accepted bad pair %q=%q", k, v)
			}
			parts = append(parts, k+" "+b64(v))
		}
		again, err := ParseMetadata(strings.Join(parts, ","), 1<<20, 32)
		if err != nil || len(again) != len(m) {
			t.Fatalf("round trip of %v failed: %v", m, err)
		}
	})
}
