package imagecheck

import (
	"bytes"
	"strings"
	"testing"
)

func TestSniff(t *testing.T) {
	all := newChecker(t, DefaultPolicy())
	noGIF := DefaultPolicy()
	noGIF.AllowedTypes = []string{TypeJPEG, TypePNG, TypeWebP}
	okPNG := readTestdata(t, "ok.png")
	tests := []struct {
		name    string
		c       *Checker
		prefix  []byte
		want    string
		sniffed string // sniffed_type detail of the 415, when want == ""
	}{
		{name: "png signature only", prefix: okPNG[:8], want: TypePNG},
		{name: "png 3 KiB", prefix: okPNG[:SniffLen], want: TypePNG},
		{name: "png longer than SniffLen", prefix: okPNG, want: TypePNG},
		{name: "apng is png", prefix: apng(okPNG, 3, 1)[:SniffLen], want: TypePNG},
		// mimetype quirk: empty input and short binary prefixes are "text/plain".
		{name: "half a png signature", prefix: okPNG[:4], sniffed: "text/plain"},
		{name: "jpeg 3 bytes", prefix: []byte{0xFF, 0xD8, 0xFF}, want: TypeJPEG},
		{name: "jpeg 2 bytes", prefix: []byte{0xFF, 0xD8}, sniffed: "text/plain"},
		{name: "gif89a", prefix: []byte("GIF89a"), want: TypeGIF},
		{name: "gif87a", prefix: []byte("GIF87a"), want: TypeGIF},
		{name: "gif not allowed", c: newChecker(t, noGIF), prefix: []byte("GIF89a"), sniffed: TypeGIF},
		// mimetype quirk: a RIFF form needs more than its 12-byte header.
		{name: "webp 12 bytes", prefix: []byte("RIFF\x00\x00\x00\x00WEBP"), sniffed: "application/octet-stream"},
		{name: "webp 13 bytes", prefix: []byte("RIFF\x00\x00\x00\x00WEBPV"), want: TypeWebP},
		{name: "webp file", prefix: readTestdata(t, "ok_animated.webp"), want: TypeWebP},
		{name: "riff wave", prefix: []byte("RIFF\x00\x00\x00\x00WAVEfmt "), sniffed: "audio/wav"},
		{name: "empty", prefix: nil, sniffed: "text/plain"},
		{name: "html", prefix: readTestdata(t, "html_as.png"), sniffed: "text/html"},
		{name: "svg", prefix: readTestdata(t, "svg_as.png"), sniffed: "image/svg+xml"},
		{name: "text", prefix: readTestdata(t, "text.txt"), sniffed: "text/plain"},
		{name: "pdf", prefix: []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), sniffed: "application/pdf"},
		{name: "zip", prefix: []byte("PK\x03\x04\x14\x00\x00\x00\x00\x00"), sniffed: "application/zip"},
		{name: "bmp", prefix: cat([]byte("BM"), make([]byte, 12), []byte{40, 0, 0, 0}, make([]byte, 40)), sniffed: "image/bmp"},
		{name: "tiff", prefix: []byte("II*\x00\x08\x00\x00\x00"), sniffed: "image/tiff"},
		{name: "png after SniffLen bytes of text", prefix: append(bytes.Repeat([]byte("a"), SniffLen), okPNG...), sniffed: "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			if c == nil {
				c = all
			}
			got, err := c.Sniff(tt.prefix)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("Sniff = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			e := wantHTTPErr(t, err, 415, CodeTypeNotAllowed)
			if got != "" || e.Detail["sniffed_type"] != tt.sniffed {
				t.Errorf("Sniff = %q, sniffed_type %v; want \"\", %q", got, e.Detail["sniffed_type"], tt.sniffed)
			}
			if !strings.Contains(e.Message, tt.sniffed) || strings.Contains(e.Message, "charset") {
				t.Errorf("message %q", e.Message)
			}
		})
	}
}

func TestCheckDeclared(t *testing.T) {
	all := newChecker(t, DefaultPolicy())
	noGIF := DefaultPolicy()
	noGIF.AllowedTypes = []string{TypeJPEG, TypePNG, TypeWebP}
	tests := []struct {
		name   string
		c      *Checker
		meta   Meta
		status int // 0: passes
		code   string
	}{
		{name: "empty"},
		{name: "png name", meta: Meta{Filename: "cat.png"}},
		{name: "upper-case jpeg name", meta: Meta{Filename: "CAT.JPEG"}},
		{name: "jpe name and type", meta: Meta{Filename: "cat.jpe", DeclaredType: "image/jpeg"}},
		{name: "no extension", meta: Meta{Filename: "README"}},
		{name: "trailing dot", meta: Meta{Filename: "cat."}},
		{name: "path with dots", meta: Meta{Filename: "my.dir/cat"}},
		{name: "declared only", meta: Meta{DeclaredType: "image/webp"}},
		{name: "declared with case and parameters", meta: Meta{Filename: "a.webp", DeclaredType: "Image/WebP; q=1"}},
		{name: "declared alias", meta: Meta{Filename: "a.jpg", DeclaredType: "image/pjpeg"}},
		{name: "declared octet-stream", meta: Meta{Filename: "a.gif", DeclaredType: "application/octet-stream"}},
		{name: "html name", meta: Meta{Filename: "evil.html"}, status: 415, code: CodeTypeNotAllowed},
		{name: "svg name", meta: Meta{Filename: "x.svg", DeclaredType: "image/svg+xml"}, status: 415, code: CodeTypeNotAllowed},
		{name: "double extension", meta: Meta{Filename: "cat.png.exe"}, status: 415, code: CodeTypeNotAllowed},
		{name: "svg declared", meta: Meta{DeclaredType: "image/svg+xml"}, status: 415, code: CodeTypeNotAllowed},
		{name: "html declared", meta: Meta{Filename: "cat.png", DeclaredType: "text/html"}, status: 415, code: CodeTypeNotAllowed},
		{name: "gif name not allowed", c: newChecker(t, noGIF), meta: Meta{Filename: "a.gif"}, status: 415, code: CodeTypeNotAllowed},
		{name: "gif declared not allowed", c: newChecker(t, noGIF), meta: Meta{DeclaredType: "image/gif"}, status: 415, code: CodeTypeNotAllowed},
		{name: "name and type disagree", meta: Meta{Filename: "cat.png", DeclaredType: "image/jpeg"}, status: 422, code: CodeDeclaredTypeMismatch},
		{name: "name and alias disagree", meta: Meta{Filename: "cat.gif", DeclaredType: "image/x-png"}, status: 422, code: CodeDeclaredTypeMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			if c == nil {
				c = all
			}
			err := c.CheckDeclared(tt.meta)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("CheckDeclared: %v", err)
				}
				return
			}
			wantHTTPErr(t, err, tt.status, tt.code)
		})
	}
	t.Run("long values are shortened", func(t *testing.T) {
		err := all.CheckDeclared(Meta{Filename: "x." + strings.Repeat("a", 10000)})
		e := wantHTTPErr(t, err, 415, CodeTypeNotAllowed)
		if len(e.Message) > 300 {
			t.Errorf("message is %d bytes", len(e.Message))
		}
	})
}

func TestTypeForExt(t *testing.T) {
	tests := []struct {
		ext  string
		want string
	}{
		{"jpg", TypeJPEG}, {"JPEG", TypeJPEG}, {".jpe", TypeJPEG}, {".JFIF", TypeJPEG},
		{"png", TypePNG}, {".Png", TypePNG}, {"gif", TypeGIF}, {".webp", TypeWebP},
		{"", ""}, {".", ""}, {"svg", ""}, {"tiff", ""}, {"apng", ""}, {"..png", ""}, {"png ", ""},
	}
	for _, tt := range tests {
		got, ok := TypeForExt(tt.ext)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("TypeForExt(%q) = %q, %v; want %q", tt.ext, got, ok, tt.want)
		}
	}
}

func TestExtForType(t *testing.T) {
	tests := []struct{ typ, want string }{
		{TypeJPEG, "jpg"}, {TypePNG, "png"}, {TypeGIF, "gif"}, {TypeWebP, "webp"},
		{"IMAGE/JPEG", "jpg"}, {"image/png; x=y", "png"},
		{"image/svg+xml", ""}, {"text/html", ""}, {"", ""}, {"image/jpg", ""},
	}
	for _, tt := range tests {
		if got := ExtForType(tt.typ); got != tt.want {
			t.Errorf("ExtForType(%q) = %q, want %q", tt.typ, got, tt.want)
		}
	}
	for _, typ := range supportedTypes {
		if back, ok := TypeForExt(ExtForType(typ)); !ok || back != typ {
			t.Errorf("TypeForExt(ExtForType(%q)) = %q, %v", typ, back, ok)
		}
	}
}
