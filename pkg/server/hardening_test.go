package server_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/internal/tustest"
	"github.com/tusimg/tusimg/pkg/config"
)

// slowBody yields b in pieces of n bytes with a pause before each.
type slowBody struct {
	b     []byte
	n     int
	pause time.Duration
	stall time.Duration // extra pause once, after the first piece
	sent  int
}

func (s *slowBody) Read(p []byte) (int, error) {
	if s.sent >= len(s.b) {
		return 0, io.EOF
	}
	time.Sleep(s.pause)
	if s.sent > 0 && s.stall > 0 {
		time.Sleep(s.stall)
		s.stall = 0
	}
	k := copy(p[:min(len(p), s.n)], s.b[s.sent:])
	s.sent += k
	return k, nil
}

func slowPatch(t *testing.T, url string, body io.Reader, size int) (*http.Response, error) {
	return tustest.PatchStream(url, 0, body, size)
}

// TestSlowButMovingUploadIsNotCut sends a PATCH over 2.5 s with a network
// timeout of 600 ms: every read makes progress, so it must finish.
func TestSlowButMovingUploadIsNotCut(t *testing.T) {
	ts := testserver.Start(t, func(c *config.Config) { c.NetworkTimeout = 600 * time.Millisecond })
	img := readTestdata(t, "ok.png")
	url := create(t, ts, len(img), "")
	resp, err := slowPatch(t, url, &slowBody{b: img, n: len(img)/10 + 1, pause: 250 * time.Millisecond}, len(img))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Image-Sha256") != sha(img) {
		t.Fatalf("slow upload: %d", resp.StatusCode)
	}
}

// TestStalledUploadIsCut stalls a PATCH for 3x the network timeout: the
// server gives up on it, keeps what arrived, and the client can resume.
func TestStalledUploadIsCut(t *testing.T) {
	ts := testserver.Start(t, func(c *config.Config) { c.NetworkTimeout = 500 * time.Millisecond })
	img := readTestdata(t, "ok.png")
	url := create(t, ts, len(img), "")
	start := time.Now()
	resp, err := slowPatch(t, url, &slowBody{b: img, n: 4000, pause: time.Millisecond, stall: 1500 * time.Millisecond}, len(img))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("stalled upload succeeded: %d", resp.StatusCode)
		}
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("stalled upload was held for %s", time.Since(start))
	}
	r, _ := tusReq(t, "HEAD", url, nil, nil)
	off, _ := strconv.Atoi(r.Header.Get("Upload-Offset"))
	if off != 4000 {
		t.Fatalf("offset after cut = %d, want the 4000 bytes that arrived", off)
	}
	if r, body := patch(t, url, off, img[off:]); r.StatusCode != 204 || r.Header.Get("Image-Sha256") != sha(img) {
		t.Fatalf("resume after cut: %d %s", r.StatusCode, body)
	}
}

// TestShutdownLetsUploadsFinish starts a slow PATCH, begins a graceful
// shutdown while it runs, and expects the PATCH to complete and publish.
func TestShutdownLetsUploadsFinish(t *testing.T) {
	ts := testserver.Start(t, func(c *config.Config) { c.ShutdownGrace = 10 * time.Second })
	img := readTestdata(t, "ok.png")
	url := create(t, ts, len(img), "")
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := slowPatch(t, url, &slowBody{b: img, n: len(img)/8 + 1, pause: 150 * time.Millisecond}, len(img))
		if err != nil {
			t.Errorf("PATCH during shutdown: %v", err)
			done <- nil
			return
		}
		resp.Body.Close()
		done <- resp
	}()
	time.Sleep(300 * time.Millisecond)
	ts.Stop(t) // returns once in-flight requests are done
	resp := <-done
	if resp == nil || resp.StatusCode != 204 || resp.Header.Get("Image-Sha256") != sha(img) {
		t.Fatalf("in-flight upload did not finish: %+v", resp)
	}
}

// TestOneShotStreamsLargeBody posts ~48 MiB through the one-shot API and
// samples the heap meanwhile: the body goes to disk, so the heap must stay
// far below the body size. The image is a real 48 MiB PNG (noise, stored
// uncompressed), so it is also fully checked and published.
func TestOneShotStreamsLargeBody(t *testing.T) {
	if testing.Short() {
		t.Skip("large body")
	}
	ts := testserver.Start(t, nil)
	body := noisePNG(t, 3500, 3500)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/images?filename=noise.png", &slowBody{b: body, n: 1 << 20})
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "image/png")
	resp, err := http.DefaultClient.Do(req)
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	growth := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("body %d MiB, heap in use grew by at most %.1f MiB during the upload (includes the full decode)", len(body)>>20, float64(growth)/(1<<20))
	if resp.StatusCode != 201 {
		t.Fatalf("one-shot of %d bytes: %d %s", len(body), resp.StatusCode, b)
	}
	// The full decode of a 12 Mpx RGBA image needs ~49 MiB by itself; the
	// body (48 MiB) must not be held in addition to it.
	if growth > 80<<20 {
		t.Fatalf("heap grew by %d MiB for a %d MiB body: the body is buffered", growth>>20, len(body)>>20)
	}
}

// noisePNG encodes w x h random RGBA pixels without compression.
func noisePNG(t *testing.T, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewSource(1))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Intn(256))
	}
	img.Set(0, 0, color.NRGBA{1, 2, 3, 255})
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
