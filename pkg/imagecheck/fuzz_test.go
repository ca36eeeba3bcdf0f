package imagecheck

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tusimg/tusimg/pkg/httperr"
)

// fuzzPolicy has small limits so that anything the fuzzer builds is decoded
// within a few megabytes.
func fuzzPolicy() Policy {
	p := DefaultPolicy()
	p.MaxSize = 1 << 20
	p.MaxWidth, p.MaxHeight = 512, 512
	p.MaxPixels = 1 << 16
	p.MaxFrames = 16
	p.MaxTotalPixels = 1 << 18
	p.MaxConcurrentDecodes = 1
	return p
}

// addSeeds adds every testdata file and some structural variants.
func addSeeds(f *testing.F) {
	entries, err := os.ReadDir(testdataDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			f.Add(readTestdata(f, e.Name()))
		}
	}
	okPNG := readTestdata(f, "ok.png")
	f.Add(apng(okPNG, 3, 2))
	f.Add(animWithFrame(0, 16, 16, vp8lPattern(16, 16, 1)))
	f.Add(webpFile(chunk("VP8X", cat([]byte{0x10, 0, 0, 0}, le24b(31), le24b(31))), chunk("VP8L", vp8lPattern(32, 32, 0))))
	f.Add(cat(readTestdata(f, "ok.jpg"), readTestdata(f, "ok.jpg")))
}

// FuzzCheck feeds arbitrary bytes to Check: it must not panic and must return
// either a Result within the policy's limits or an *httperr.Error with a 4xx
// status.
func FuzzCheck(f *testing.F) {
	addSeeds(f)
	p := fuzzPolicy()
	c, err := New(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := c.Check(context.Background(), bytes.NewReader(data), int64(len(data)), Meta{})
		if err != nil {
			var e *httperr.Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Code == "" || e.Message == "" {
				t.Fatalf("error %v (%T), want a 4xx *httperr.Error", err, err)
			}
			if res != (Result{}) {
				t.Fatalf("result %+v returned with error %v", res, err)
			}
			return
		}
		if ExtForType(res.Type) != res.Ext || res.Ext == "" ||
			res.Width < 1 || res.Width > p.MaxWidth || res.Height < 1 || res.Height > p.MaxHeight ||
			int64(res.Width)*int64(res.Height) > p.MaxPixels ||
			res.Frames < 1 || res.Frames > p.MaxFrames ||
			int64(res.Frames)*int64(res.Width)*int64(res.Height) > p.MaxTotalPixels {
			t.Fatalf("accepted result %+v breaks the policy", res)
		}
		if typ, err := c.Sniff(data); err != nil || typ != res.Type {
			t.Fatalf("Sniff = %q, %v; Check said %q", typ, err, res.Type)
		}
	})
}

// FuzzSniff feeds arbitrary prefixes to Sniff: it returns an allowed type or a
// 415, never both, never anything else.
func FuzzSniff(f *testing.F) {
	addSeeds(f)
	c, err := New(DefaultPolicy())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, prefix []byte) {
		typ, err := c.Sniff(prefix)
		if err != nil {
			var e *httperr.Error
			if typ != "" || !errors.As(err, &e) || e.Status != 415 || e.Code != CodeTypeNotAllowed {
				t.Fatalf("Sniff = %q, %v", typ, err)
			}
			return
		}
		if ExtForType(typ) == "" {
			t.Fatalf("Sniff = %q, not a supported type", typ)
		}
		if len(prefix) > SniffLen {
			if typ2, _ := c.Sniff(prefix[:SniffLen]); typ2 != typ {
				t.Fatalf("Sniff looked beyond SniffLen: %q vs %q", typ, typ2)
			}
		}
	})
}

// FuzzCheckDeclared feeds arbitrary metadata to CheckDeclared: nil or a 415
// or 422 *httperr.Error.
func FuzzCheckDeclared(f *testing.F) {
	for _, s := range [][2]string{{"a.png", "image/png"}, {"b.JPG", "image/jpeg; q=1"}, {"c", ""},
		{"", "text/html"}, {"x.svg", "image/svg+xml"}, {"dir.d/x", "image/jpg"}, {"a.png.", "IMAGE/GIF"}} {
		f.Add(s[0], s[1])
	}
	c, err := New(DefaultPolicy())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, filename, declared string) {
		err := c.CheckDeclared(Meta{Filename: filename, DeclaredType: declared})
		if err == nil {
			return
		}
		var e *httperr.Error
		if !errors.As(err, &e) || (e.Status != 415 && e.Status != 422) || len(e.Message) > 400 {
			t.Fatalf("CheckDeclared(%q, %q) = %v", filename, declared, err)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	for _, file := range []string{"ok.png", "ok.jpg", "ok.gif", "ok.webp"} {
		data, err := os.ReadFile(filepath.Join(testdataDir, file))
		if err != nil {
			b.Fatal(err)
		}
		for _, full := range []bool{true, false} {
			p := DefaultPolicy()
			p.FullDecode = full
			c, err := New(p)
			if err != nil {
				b.Fatal(err)
			}
			name := file + "/header-only"
			if full {
				name = file + "/full-decode"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := c.Check(context.Background(), bytes.NewReader(data), int64(len(data)), Meta{Filename: file}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
