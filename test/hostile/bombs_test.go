package hostile_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/config"
)

// riff wraps WebP chunks in a RIFF container.
func riff(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

// chunk is a RIFF chunk with its padding byte.
func chunk(fourcc string, data []byte) []byte {
	out := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

// webpCanvasBomb is an extended WebP (VP8X) declaring a w x h canvas, with
// the tiny 32x8 lossless frame of testdata/ok.webp as its only image.
func webpCanvasBomb(t *testing.T, w, h int) []byte {
	ok := readTestdata(t, "ok.webp")
	vp8x := []byte{0, 0, 0, 0, byte(w - 1), byte((w - 1) >> 8), byte((w - 1) >> 16), byte(h - 1), byte((h - 1) >> 8), byte((h - 1) >> 16)}
	body := riff(chunk("VP8X", vp8x))
	body = append(body, ok[12:]...) // the VP8L chunk
	binary.LittleEndian.PutUint32(body[4:], uint32(len(body)-8))
	return body
}

// webpLosslessBomb is a simple lossless WebP whose VP8L header declares
// w x h, followed by a few bytes of (meaningless) bitstream.
func webpLosslessBomb(w, h int) []byte {
	bits := uint32(w-1) | uint32(h-1)<<14 // no alpha, version 0
	data := append([]byte{0x2f}, binary.LittleEndian.AppendUint32(nil, bits)...)
	return riff(chunk("VP8L", append(data, make([]byte, 16)...)))
}

// flatPNG is a w x h 8-bit RGB PNG of one colour, streamed into zlib row by
// row (filter Up after the first row), so a 49 Mpx image is ~150 KB and
// never exists uncompressed here. image/png decodes it to an *image.RGBA of
// 4*w*h bytes; the checker's full decode reads every row without keeping
// the pixels.
func flatPNG(t testing.TB, w, h int, rgb [3]byte) []byte {
	return flatPNGLastFilter(t, w, h, rgb, 2)
}

// flatPNGLastFilter is flatPNG with the filter type byte of its last row
// set to last: 5 and above are invalid, which only a decode of every row
// can see (the chunk CRCs and the zlib checksum are right).
func flatPNGLastFilter(t testing.TB, w, h int, rgb [3]byte, last byte) []byte {
	t.Helper()
	var idat bytes.Buffer
	zw, err := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]byte, 1+3*w)
	for x := range w {
		copy(row[1+3*x:], rgb[:])
	}
	zw.Write(row) // filter None, the colour
	clear(row)
	row[0] = 2 // filter Up: every byte equals the one above
	for y := 1; y < h; y++ {
		if y == h-1 {
			row[0] = last
		}
		zw.Write(row)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	png := []byte("\x89PNG\r\n\x1a\n")
	pngChunk := func(typ string, data []byte) {
		png = binary.BigEndian.AppendUint32(png, uint32(len(data)))
		start := len(png)
		png = append(png, typ...)
		png = append(png, data...)
		png = binary.BigEndian.AppendUint32(png, crc32.ChecksumIEEE(png[start:]))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	pngChunk("IHDR", append(ihdr, 8, 2, 0, 0, 0))
	pngChunk("IDAT", idat.Bytes())
	pngChunk("IEND", nil)
	return png
}

// heapSampler records the peak of HeapInuse, or with live set, of the live
// heap measured by forcing a collection at every sample (a decode's garbage
// then never counts: only memory held at the same time does).
type heapSampler struct {
	live bool
	base uint64
	peak atomic.Uint64
	stop chan struct{}
	done sync.WaitGroup
}

func startSampler(live bool) *heapSampler {
	s := &heapSampler{live: live, stop: make(chan struct{})}
	s.base = s.read()
	s.peak.Store(s.base)
	s.done.Go(func() {
		prev := s.base
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			v := s.read()
			// A live-heap reading counts only if the next one confirms it:
			// a GC cycle that began while the previous decode's image was
			// still referenced reports it live once more.
			c := v
			if s.live {
				c = min(prev, v)
			}
			if c > s.peak.Load() {
				s.peak.Store(c)
			}
			prev = v
		}
	})
	return s
}

func (s *heapSampler) read() uint64 {
	if s.live {
		runtime.GC()
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// Stop ends sampling and returns the peak growth over the start.
func (s *heapSampler) Stop() int64 {
	close(s.stop)
	s.done.Wait()
	return int64(s.peak.Load()) - int64(s.base)
}

// peakRSS measures the growth of the process's peak RSS (VmHWM) over f,
// resetting the high-water mark first; ok is false where that is not
// possible (not Linux, or /proc/self/clear_refs not writable).
func peakRSS(f func()) (growth int64, ok bool) {
	runtime.GC()
	if resetHWM() != nil {
		f()
		return 0, false
	}
	before, err := procStatus("VmHWM")
	if err != nil {
		f()
		return 0, false
	}
	f()
	after, err := procStatus("VmHWM")
	return after - before, err == nil
}

// TestDecompressionBombs uploads pixel and frame bombs: each is refused
// with 422 from its header or structure, before any pixel is decoded, so
// the process's peak memory barely moves.
func TestDecompressionBombs(t *testing.T) {
	ts := testserver.Start(t, nil)
	bombs := []struct {
		name string
		body []byte
		code string
	}{
		{"bomb_50mpx.png", readTestdata(t, "bomb_50mpx.png"), "dimensions_too_large"},
		{"bomb_100k.png", readTestdata(t, "bomb_100k.png"), "dimensions_too_large"},
		{"bomb.gif", readTestdata(t, "bomb.gif"), "dimensions_too_large"},
		{"bomb.jpg", readTestdata(t, "bomb.jpg"), "dimensions_too_large"},
		{"many_frames.gif", readTestdata(t, "many_frames.gif"), "too_many_frames"},
		{"VP8X canvas 16383x16383", webpCanvasBomb(t, 16383, 16383), "dimensions_too_large"},
		{"VP8L 16384x16384", webpLosslessBomb(16384, 16384), "dimensions_too_large"},
	}
	const limit = 64 << 20
	for _, b := range bombs {
		t.Run(b.name, func(t *testing.T) {
			url := create(t, ts, len(b.body), "")
			heap := startSampler(false)
			var status int
			var body []byte
			start := time.Now()
			rss, ok := peakRSS(func() {
				resp, got := patch(t, url, 0, b.body)
				status, body = resp.StatusCode, got
			})
			took := time.Since(start)
			heapGrowth := heap.Stop()
			if code, _ := apiError(body); status != 422 || code != b.code {
				t.Fatalf("%d %s, want 422 %s", status, body, b.code)
			}
			rssText := "VmHWM not measurable"
			if ok {
				rssText = "peak RSS " + fmtGrowth(rss)
			}
			t.Logf("%d bytes: 422 %s in %s; %s, peak heap in use %s", len(b.body), b.code,
				took.Round(time.Millisecond), rssText, fmtGrowth(heapGrowth))
			if took > 10*time.Second {
				t.Errorf("refusing the bomb took %s", took)
			}
			if ok && rss > limit {
				t.Errorf("peak RSS grew by %s, want < %s", fmtMiB(rss), fmtMiB(limit))
			}
			if !ok && heapGrowth > limit {
				t.Errorf("heap in use grew by %s, want < %s", fmtMiB(heapGrowth), fmtMiB(limit))
			}
		})
	}
}

// TestLargeImageDecodeIsBounded uploads a real 7000x7000 (49 Mpx, just
// under the 50 Mpx limit) PNG of one colour, ~150 KB compressed, which is
// fully decoded: it is accepted, and its decode peak is reported; the same
// image with a bad filter type in its last row is refused, which proves
// every row was decoded. The PNG decode keeps one row, not the ~196 MB of
// pixels image/png would allocate, so two such uploads at once hold far
// less than one decoded image, with DecodeConcurrency=1 (and 2, reported
// for comparison).
func TestLargeImageDecodeIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes several 49 Mpx images (~196 MB each)")
	}
	const w, h = 7000, 7000
	colour := byte(0)
	nextImage := func() []byte { colour++; return flatPNG(t, w, h, [3]byte{colour, 100, 200}) } // distinct: no dedupe shortcut
	one := testserver.Start(t, func(c *config.Config) { c.DecodeConcurrency = 1 })

	uploadAll := func(ts *testserver.TS, imgs ...[]byte) time.Duration {
		t.Helper()
		urls := make([]string, len(imgs))
		for i, img := range imgs {
			urls[i] = create(t, ts, len(img), "")
		}
		start := time.Now()
		var wg sync.WaitGroup
		for i, img := range imgs {
			wg.Go(func() {
				if resp, body := patch(t, urls[i], 0, img); resp.StatusCode != 204 || resp.Header.Get("Image-Sha256") != sha(img) {
					t.Errorf("%dx%d PNG: %d %s", w, h, resp.StatusCode, body)
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}

	img := nextImage()
	heap := startSampler(false)
	var took time.Duration
	rss, rssOK := peakRSS(func() { took = uploadAll(one, img) })
	inUse := heap.Stop()
	rssText := "VmHWM not measurable"
	if rssOK {
		rssText = "peak RSS " + fmtGrowth(rss)
	}
	t.Logf("one %dx%d PNG (%d KB): accepted in %s (upload, checks, full decode, publish); peak heap in use %s, %s",
		w, h, len(img)>>10, took.Round(time.Millisecond), fmtGrowth(inUse), rssText)

	live := startSampler(true)
	uploadAll(one, nextImage())
	single := live.Stop()
	live = startSampler(true)
	uploadAll(one, nextImage(), nextImage())
	pair := live.Stop()
	t.Logf("live heap peak: one decode %s; two uploads at once with DecodeConcurrency=1 %s (%.2fx)",
		fmtGrowth(single), fmtGrowth(pair), float64(pair)/float64(single))
	bad := flatPNGLastFilter(t, w, h, [3]byte{1, 2, 3}, 5)
	if resp, body := patch(t, create(t, one, len(bad), ""), 0, bad); resp.StatusCode != 422 ||
		!strings.Contains(string(body), "corrupt_image") {
		t.Errorf("%dx%d PNG with a bad filter type in its last row: %d %s, want 422 corrupt_image (full decode)",
			w, h, resp.StatusCode, body)
	}
	const decoded = int64(4 * w * h) // what one image/png decode would hold
	if pair > decoded/4 {
		t.Errorf("two uploads with one decode slot held %s at once, one alone %s: the decode does not stay in O(row) memory",
			fmtMiB(pair), fmtMiB(single))
	}

	two := testserver.Start(t, func(c *config.Config) { c.DecodeConcurrency = 2 })
	live = startSampler(true)
	uploadAll(two, nextImage(), nextImage())
	t.Logf("for comparison, DecodeConcurrency=2: two uploads at once %s", fmtGrowth(live.Stop()))
}
