// Package testfiles gives tests the files under testdata/ and the table of
// hostile files with their documented outcome (DESIGN section 4), so every
// store and client is checked against the same table.
package testfiles

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Case is a hostile upload and the answer it must get. Created says whether
// the upload gets past pre-create (judged on metadata alone).
type Case struct {
	File, Filename, Filetype string
	Status                   int
	Code                     string
	Created                  bool
}

// Hostile is the table of bad files.
var Hostile = []Case{
	{"html_as.png", "page.png", "", 415, "type_not_allowed", true},
	{"svg_as.png", "drawing.png", "", 415, "type_not_allowed", true},
	{"svg_script.svg", "drawing.svg", "", 415, "type_not_allowed", false},
	{"svg_script.svg", "", "image/svg+xml", 415, "type_not_allowed", false},
	{"text.txt", "notes.txt", "", 415, "type_not_allowed", false},
	{"bad_crc.png", "crc.png", "", 422, "corrupt_image", true},
	{"truncated.jpg", "cut.jpg", "", 422, "corrupt_image", true},
	{"bomb_100k.png", "bomb.png", "", 422, "dimensions_too_large", true},
	{"bomb_50mpx.png", "bomb.png", "", 422, "dimensions_too_large", true},
	{"bomb.gif", "bomb.gif", "", 422, "dimensions_too_large", true},
	{"many_frames.gif", "frames.gif", "", 422, "too_many_frames", true},
	{"bomb.jpg", "bomb.jpg", "", 422, "dimensions_too_large", true},
	{"empty.png", "empty.png", "", 422, "empty", true},
	{"jpeg_named.png", "photo.png", "", 422, "extension_mismatch", true},
	{"ok.png", "", "image/jpeg", 422, "declared_type_mismatch", true},
	{"ok.png", "x.png", "image/jpeg", 422, "declared_type_mismatch", false},
	{"polyglot.png", "poly.png", "", 422, "trailing_data", true},
	{"polyglot.jpg", "poly.jpg", "", 422, "trailing_data", true},
}

// Name is a subtest name for c.
func (c Case) Name() string { return c.File + "/" + c.Filename + c.Filetype }

// Dir is the repository's testdata directory.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata")
}

// Read returns the contents of testdata/name.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(), name))
	if err != nil {
		t.Fatalf("testdata: %v", err)
	}
	return b
}
