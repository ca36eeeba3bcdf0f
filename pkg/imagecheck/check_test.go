package imagecheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCheckTestdata runs the default policy over every testdata file, with the
// file's own name as the client's filename.
func TestCheckTestdata(t *testing.T) {
	c := newChecker(t, DefaultPolicy())
	tests := []struct {
		file   string
		want   Result // when code == ""
		status int
		code   string
	}{
		{file: "ok.png", want: Result{Type: TypePNG, Ext: "png", Width: 64, Height: 48, Frames: 1}},
		{file: "ok.jpg", want: Result{Type: TypeJPEG, Ext: "jpg", Width: 64, Height: 48, Frames: 1}},
		{file: "ok.gif", want: Result{Type: TypeGIF, Ext: "gif", Width: 32, Height: 32, Frames: 3}},
		{file: "ok.webp", want: Result{Type: TypeWebP, Ext: "webp", Width: 32, Height: 32, Frames: 1}},
		{file: "ok_animated.webp", want: Result{Type: TypeWebP, Ext: "webp", Width: 32, Height: 32, Frames: 3}},
		{file: "html_as.png", status: 415, code: CodeTypeNotAllowed},
		{file: "svg_script.svg", status: 415, code: CodeTypeNotAllowed},
		{file: "svg_as.png", status: 415, code: CodeTypeNotAllowed},
		{file: "text.txt", status: 415, code: CodeTypeNotAllowed},
		{file: "bad_crc.png", status: 422, code: CodeCorruptImage},
		{file: "truncated.jpg", status: 422, code: CodeCorruptImage},
		{file: "bomb_100k.png", status: 422, code: CodeDimensionsTooLarge},
		{file: "bomb_50mpx.png", status: 422, code: CodeDimensionsTooLarge},
		{file: "bomb.gif", status: 422, code: CodeDimensionsTooLarge},
		{file: "bomb.jpg", status: 422, code: CodeDimensionsTooLarge},
		{file: "many_frames.gif", status: 422, code: CodeTooManyFrames},
		{file: "empty.png", status: 422, code: CodeEmpty},
		{file: "jpeg_named.png", status: 422, code: CodeExtensionMismatch},
		{file: "polyglot.png", status: 422, code: CodeTrailingData},
		{file: "polyglot.jpg", status: 422, code: CodeTrailingData},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := check(c, readTestdata(t, tt.file), Meta{Filename: tt.file})
			if tt.code != "" {
				wantHTTPErr(t, err, tt.status, tt.code)
				if got != (Result{}) {
					t.Errorf("result = %+v with an error, want zero", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got != tt.want {
				t.Errorf("result = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestCheckErrorDetails pins the public message and detail of each kind of
// rejection.
func TestCheckErrorDetails(t *testing.T) {
	c := newChecker(t, DefaultPolicy())
	t.Run("type_not_allowed", func(t *testing.T) {
		_, err := check(c, readTestdata(t, "html_as.png"), Meta{})
		e := wantHTTPErr(t, err, 415, CodeTypeNotAllowed)
		const msg = "file content is text/html, not an allowed image type (allowed: image/jpeg, image/png, image/gif, image/webp)"
		if e.Message != msg {
			t.Errorf("message = %q, want %q", e.Message, msg)
		}
		if e.Detail["sniffed_type"] != "text/html" {
			t.Errorf("detail = %v", e.Detail)
		}
	})
	t.Run("dimensions_too_large", func(t *testing.T) {
		_, err := check(c, readTestdata(t, "bomb_100k.png"), Meta{})
		e := wantHTTPErr(t, err, 422, CodeDimensionsTooLarge)
		if e.Detail["width"] != 100000 || e.Detail["height"] != 100000 || e.Detail["max_pixels"] != int64(50_000_000) {
			t.Errorf("detail = %v", e.Detail)
		}
	})
	t.Run("too_many_frames", func(t *testing.T) {
		_, err := check(c, readTestdata(t, "many_frames.gif"), Meta{})
		e := wantHTTPErr(t, err, 422, CodeTooManyFrames)
		if e.Detail["frames"] != 1001 || e.Detail["max_frames"] != 1000 {
			t.Errorf("detail = %v", e.Detail)
		}
	})
	t.Run("trailing_data", func(t *testing.T) {
		png := readTestdata(t, "ok.png")
		poly := readTestdata(t, "polyglot.png")
		_, err := check(c, poly, Meta{})
		e := wantHTTPErr(t, err, 422, CodeTrailingData)
		if e.Detail["image_end"] != int64(len(png)) || e.Detail["trailing_bytes"] != int64(len(poly)-len(png)) {
			t.Errorf("detail = %v, want image_end %d", e.Detail, len(png))
		}
	})
	t.Run("corrupt_image", func(t *testing.T) {
		_, err := check(c, readTestdata(t, "bad_crc.png"), Meta{})
		e := wantHTTPErr(t, err, 422, CodeCorruptImage)
		if e.Detail["stage"] != "decode" || e.Cause == nil {
			t.Errorf("detail = %v, cause = %v; want stage decode and a cause", e.Detail, e.Cause)
		}
		if e.Message != "file is not a valid PNG image: it is corrupt or truncated" {
			t.Errorf("message = %q", e.Message)
		}
	})
	t.Run("too_large", func(t *testing.T) {
		p := DefaultPolicy()
		p.MaxSize = 100
		_, err := check(newChecker(t, p), readTestdata(t, "ok.png"), Meta{})
		e := wantHTTPErr(t, err, http.StatusRequestEntityTooLarge, CodeTooLarge)
		if e.Detail["max_size"] != int64(100) || e.Detail["size"] != int64(9332) {
			t.Errorf("detail = %v", e.Detail)
		}
	})
}

// TestCheckPolicies varies the policy and the client's metadata.
func TestCheckPolicies(t *testing.T) {
	with := func(f func(*Policy)) Policy {
		p := DefaultPolicy()
		f(&p)
		return p
	}
	tests := []struct {
		name   string
		policy Policy
		file   string
		meta   Meta
		want   Result
		status int
		code   string
	}{
		{name: "smaller MaxPixels", file: "ok.png", policy: with(func(p *Policy) { p.MaxPixels = 3071 }),
			status: 422, code: CodeDimensionsTooLarge},
		{name: "MaxPixels exactly met", file: "ok.png", policy: with(func(p *Policy) { p.MaxPixels = 3072 }),
			want: Result{Type: TypePNG, Ext: "png", Width: 64, Height: 48, Frames: 1}},
		{name: "smaller MaxWidth", file: "ok.jpg", policy: with(func(p *Policy) { p.MaxWidth = 63 }),
			status: 422, code: CodeDimensionsTooLarge},
		{name: "smaller MaxHeight", file: "ok.webp", policy: with(func(p *Policy) { p.MaxHeight = 31 }),
			status: 422, code: CodeDimensionsTooLarge},
		{name: "gif not allowed", file: "ok.gif", policy: with(func(p *Policy) { p.AllowedTypes = []string{TypeJPEG, TypePNG, TypeWebP} }),
			status: 415, code: CodeTypeNotAllowed},
		{name: "only png allowed, upper case", file: "ok.png", policy: with(func(p *Policy) { p.AllowedTypes = []string{"IMAGE/PNG"} }),
			want: Result{Type: TypePNG, Ext: "png", Width: 64, Height: 48, Frames: 1}},
		{name: "webp not allowed", file: "ok_animated.webp", policy: with(func(p *Policy) { p.AllowedTypes = []string{TypePNG} }),
			status: 415, code: CodeTypeNotAllowed},
		{name: "MaxFrames", file: "ok.gif", policy: with(func(p *Policy) { p.MaxFrames = 2 }),
			status: 422, code: CodeTooManyFrames},
		{name: "MaxFrames webp", file: "ok_animated.webp", policy: with(func(p *Policy) { p.MaxFrames = 2 }),
			status: 422, code: CodeTooManyFrames},
		{name: "MaxTotalPixels", file: "ok.gif", policy: with(func(p *Policy) { p.MaxPixels, p.MaxTotalPixels = 1024, 3071 }),
			status: 422, code: CodeTooManyFrames},
		{name: "MaxTotalPixels met", file: "ok.gif", policy: with(func(p *Policy) { p.MaxPixels, p.MaxTotalPixels = 1024, 3072 }),
			want: Result{Type: TypeGIF, Ext: "gif", Width: 32, Height: 32, Frames: 3}},
		{name: "MinSize", file: "ok.gif", policy: with(func(p *Policy) { p.MinSize = 499 }),
			status: 422, code: CodeEmpty},
		{name: "MaxSize exactly met", file: "ok.gif", policy: with(func(p *Policy) { p.MaxSize = 498 }),
			want: Result{Type: TypeGIF, Ext: "gif", Width: 32, Height: 32, Frames: 3}},
		{name: "MaxSize", file: "ok.gif", policy: with(func(p *Policy) { p.MaxSize = 497 }),
			status: 413, code: CodeTooLarge},
		{name: "raised MaxPixels, no full decode", file: "bomb_50mpx.png",
			policy: with(func(p *Policy) { p.MaxPixels, p.MaxTotalPixels, p.FullDecode = 60_000_000, 60_000_000, false }),
			want:   Result{Type: TypePNG, Ext: "png", Width: 7100, Height: 7100, Frames: 1}},
		{name: "bad CRC passes without full decode", file: "bad_crc.png", policy: with(func(p *Policy) { p.FullDecode = false }),
			want: Result{Type: TypePNG, Ext: "png", Width: 64, Height: 48, Frames: 1}},
		{name: "truncated JPEG fails without full decode", file: "truncated.jpg", policy: with(func(p *Policy) { p.FullDecode = false }),
			status: 422, code: CodeCorruptImage},
		{name: "polyglot fails without full decode", file: "polyglot.png", policy: with(func(p *Policy) { p.FullDecode = false }),
			status: 422, code: CodeTrailingData},

		{name: "declared type lies", file: "ok.png", meta: Meta{DeclaredType: "image/jpeg"},
			status: 422, code: CodeDeclaredTypeMismatch},
		{name: "declared html", file: "ok.png", meta: Meta{DeclaredType: "text/html"},
			status: 422, code: CodeDeclaredTypeMismatch},
		{name: "declared type case and parameters", file: "ok.png", meta: Meta{DeclaredType: " Image/PNG; charset=binary"},
			want: Result{Type: TypePNG, Ext: "png", Width: 64, Height: 48, Frames: 1}},
		{name: "declared alias image/jpg", file: "ok.jpg", meta: Meta{DeclaredType: "image/jpg"},
			want: Result{Type: TypeJPEG, Ext: "jpg", Width: 64, Height: 48, Frames: 1}},
		{name: "declared octet-stream", file: "ok.jpg", meta: Meta{DeclaredType: "application/octet-stream"},
			want: Result{Type: TypeJPEG, Ext: "jpg", Width: 64, Height: 48, Frames: 1}},
		{name: "extension mismatch", file: "ok.png", meta: Meta{Filename: "photo.jpg"},
			status: 422, code: CodeExtensionMismatch},
		{name: "double extension", file: "ok.png", meta: Meta{Filename: "photo.png.html"},
			status: 422, code: CodeExtensionMismatch},
		{name: "unknown extension", file: "ok.gif", meta: Meta{Filename: "anim.txt"},
			status: 422, code: CodeExtensionMismatch},
		{name: "upper-case extension", file: "ok.png", meta: Meta{Filename: "PHOTO.PNG"},
			want: Result{Type: TypePNG, Ext: "png", Width: 64, Height: 48, Frames: 1}},
		{name: "jpeg and jfif extensions", file: "ok.jpg", meta: Meta{Filename: `C:\pics\Photo.JFIF`},
			want: Result{Type: TypeJPEG, Ext: "jpg", Width: 64, Height: 48, Frames: 1}},
		{name: "no extension", file: "ok.webp", meta: Meta{Filename: "photo"},
			want: Result{Type: TypeWebP, Ext: "webp", Width: 32, Height: 32, Frames: 1}},
		{name: "jpeg named png, declared jpeg", file: "jpeg_named.png", meta: Meta{Filename: "x.png", DeclaredType: "image/jpeg"},
			status: 422, code: CodeExtensionMismatch},
		{name: "jpeg named png without filename", file: "jpeg_named.png",
			want: Result{Type: TypeJPEG, Ext: "jpg", Width: 64, Height: 48, Frames: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			if p.MaxSize == 0 {
				p = DefaultPolicy()
			}
			got, err := check(newChecker(t, p), readTestdata(t, tt.file), tt.meta)
			if tt.code != "" {
				wantHTTPErr(t, err, tt.status, tt.code)
				return
			}
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got != tt.want {
				t.Errorf("result = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// failingReader fails every read at or beyond off.
type failingReader struct {
	data []byte
	off  int64
}

var errDisk = errors.New("disk on fire: /var/secret/path")

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.off {
		return 0, errDisk
	}
	return copy(p, f.data[off:]), nil
}

// TestCheckReaderFailure checks a failing ReaderAt is an internal error, at
// every stage, whose message reveals nothing.
func TestCheckReaderFailure(t *testing.T) {
	c := newChecker(t, DefaultPolicy())
	for _, file := range []string{"ok.png", "ok.jpg", "ok.gif", "ok.webp", "ok_animated.webp"} {
		data := readTestdata(t, file)
		for _, off := range []int64{0, 40, int64(len(data)) - 1} {
			_, err := c.Check(context.Background(), failingReader{data, off}, int64(len(data)), Meta{})
			e := wantHTTPErr(t, err, http.StatusInternalServerError, "internal_error")
			if !errors.Is(err, errDisk) || strings.Contains(e.Message, "secret") {
				t.Errorf("%s at %d: error %v, message %q", file, off, err, e.Message)
			}
		}
	}
	// A reader shorter than the size it was announced with.
	data := readTestdata(t, "ok.png")
	_, err := c.Check(context.Background(), bytes.NewReader(data[:100]), int64(len(data)), Meta{})
	wantHTTPErr(t, err, http.StatusInternalServerError, "internal_error")
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error %v, want io.ErrUnexpectedEOF in its chain", err)
	}
}

// TestCheckBombDoesNotAllocate checks pixel bombs are refused on their header:
// checking one allocates far less than its pixels would need.
func TestCheckBombDoesNotAllocate(t *testing.T) {
	c := newChecker(t, DefaultPolicy())
	for _, file := range []string{"bomb_100k.png", "bomb_50mpx.png", "bomb.gif", "bomb.jpg"} {
		data := readTestdata(t, file)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := check(c, data, Meta{})
		runtime.ReadMemStats(&after)
		wantHTTPErr(t, err, 422, CodeDimensionsTooLarge)
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("%s: checking allocated %d bytes", file, n)
		}
	}
}

// TestCheckBusy fills the decode semaphore and checks a waiting Check gives
// up with 503 busy when its ctx ends, and proceeds when a slot frees.
func TestCheckBusy(t *testing.T) {
	p := DefaultPolicy()
	p.MaxConcurrentDecodes = 1
	c := newChecker(t, p)
	data := readTestdata(t, "ok.png")
	run := func(ctx context.Context) error {
		_, err := c.Check(ctx, bytes.NewReader(data), int64(len(data)), Meta{})
		return err
	}
	c.sem <- struct{}{} // occupy the only slot

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	cancel()
	err := <-done
	wantHTTPErr(t, err, http.StatusServiceUnavailable, CodeBusy)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = run(ctx)
	wantHTTPErr(t, err, http.StatusServiceUnavailable, CodeBusy)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}

	// Cheap rejections do not need a slot.
	html := readTestdata(t, "html_as.png")
	_, err = c.Check(ctx, bytes.NewReader(html), int64(len(html)), Meta{})
	wantHTTPErr(t, err, 415, CodeTypeNotAllowed)

	go func() { done <- run(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	<-c.sem // free the slot
	if err := <-done; err != nil {
		t.Fatalf("Check after the slot freed: %v", err)
	}
	if len(c.sem) != 0 {
		t.Errorf("slot not released: %d in use", len(c.sem))
	}
}

// TestCheckConcurrent runs many checks at once through a small semaphore
// (meaningful under -race).
func TestCheckConcurrent(t *testing.T) {
	p := DefaultPolicy()
	p.MaxConcurrentDecodes = 2
	c := newChecker(t, p)
	files := []string{"ok.png", "ok.jpg", "ok.gif", "ok.webp", "ok_animated.webp", "bad_crc.png", "polyglot.jpg"}
	errs := make(chan error, 8*len(files))
	for range 8 {
		for _, f := range files {
			data := readTestdata(t, f)
			go func() {
				_, err := check(c, data, Meta{Filename: f})
				if strings.HasPrefix(f, "ok") != (err == nil) {
					errs <- fmt.Errorf("%s: %v", f, err)
					return
				}
				errs <- nil
			}()
		}
	}
	for range 8 * len(files) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if len(c.sem) != 0 {
		t.Errorf("%d decode slots still held", len(c.sem))
	}
}

// TestOnlyFourDecoders guards DESIGN section 4: no decoder but JPEG, PNG, GIF
// and WebP is linked in (a blank import of x/image/bmp or tiff would register
// one).
func TestOnlyFourDecoders(t *testing.T) {
	others := map[string][]byte{
		"bmp":  cat([]byte("BM"), make([]byte, 12), []byte{40, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 24, 0}, make([]byte, 40)),
		"tiff": []byte("II*\x00\x08\x00\x00\x00\x00\x00"),
	}
	for name, b := range others {
		if _, format, err := image.DecodeConfig(bytes.NewReader(b)); !errors.Is(err, image.ErrFormat) {
			t.Errorf("%s: DecodeConfig = %q, %v; want image.ErrFormat", name, format, err)
		}
	}
}

// TestFullDecodeMaxPixels: above the bound the pixel decode is skipped (a bad
// IDAT CRC, only found by decoding, then passes); at or below it, it runs.
func TestFullDecodeMaxPixels(t *testing.T) {
	b := readTestdata(t, "bad_crc.png")
	for _, c := range []struct {
		max  int64
		pass bool
	}{{1, true}, {0, false}, {64 * 48, false}} {
		p := DefaultPolicy()
		p.FullDecodeMaxPixels = c.max
		ch, err := New(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ch.Check(context.Background(), bytes.NewReader(b), int64(len(b)), Meta{})
		if (err == nil) != c.pass {
			t.Errorf("FullDecodeMaxPixels=%d: err %v, want pass=%v", c.max, err, c.pass)
		}
	}
}
