package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tusimg/tusimg/pkg/bench"
	"github.com/tusimg/tusimg/pkg/config"
	"github.com/tusimg/tusimg/pkg/server"
)

// benchServer runs a server configured like a production one (log level
// warn), with its data on tmpfs when the machine has /dev/shm, and returns
// its URL and a function that stops it and removes its data, untimed.
func benchServer(b *testing.B) (string, func()) {
	b.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.LogLevel = "warn"
	cfg.Data = b.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "tusimg-bench-"); err == nil {
			cfg.Data = dir
		}
	}
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, ready := make(chan error, 1), make(chan string, 1)
	go func() { done <- srv.Run(ctx, func(addr, _ string) { ready <- addr }) }()
	stop := func() {
		b.StopTimer()
		cancel()
		<-done
		if cfg.Data != "" && filepath.Dir(cfg.Data) == "/dev/shm" {
			os.RemoveAll(cfg.Data)
		}
	}
	select {
	case addr := <-ready:
		return "http://" + addr, stop
	case err := <-done:
		b.Fatal(err)
	case <-time.After(30 * time.Second):
		b.Fatal("server did not start")
	}
	return "", nil
}

// distinctPNGs hands out the benchmark tool's 200 KiB PNG with a tEXt value
// that differs per call, rewritten in place (no per-upload allocation on
// the client side).
type distinctPNGs struct {
	img  []byte
	text int // offset of the 16 hex digits
	n    *atomic.Uint64
}

func newDistinctPNGs(b *testing.B, n *atomic.Uint64) distinctPNGs {
	p, err := bench.NewPNG(200<<10, 1)
	if err != nil {
		b.Fatal(err)
	}
	img, err := bench.InsertText(p.Bytes(), "n", fmt.Sprintf("%016x", 0))
	if err != nil {
		b.Fatal(err)
	}
	i := bytes.Index(img, []byte("tEXtn\x00"))
	if i < 0 {
		b.Fatal("no tEXt chunk")
	}
	return distinctPNGs{img: img, text: i + 6, n: n}
}

// clone returns a copy with its own buffer, for another goroutine.
func (d distinctPNGs) clone() distinctPNGs {
	d.img = bytes.Clone(d.img)
	return d
}

// next rewrites the image for the next upload and returns it.
func (d distinctPNGs) next() []byte {
	copy(d.img[d.text:], fmt.Appendf(nil, "%016x", d.n.Add(1)))
	typ := d.text - 6
	end := d.text + 16
	binary.BigEndian.PutUint32(d.img[end:], crc32.ChecksumIEEE(d.img[typ:end]))
	return d.img
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
}

// tusUpload sends img as one upload: POST and PATCH, or one POST with the
// bytes (creation-with-upload). It fails unless the answer names the image.
func tusUpload(c *http.Client, base string, img []byte, withUpload bool) error {
	req, _ := http.NewRequest(http.MethodPost, base+"/files/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(len(img)))
	req.Header.Set("Upload-Metadata", "filename YS5wbmc=")
	want := http.StatusCreated
	if withUpload {
		req.Body = io.NopCloser(bytes.NewReader(img))
		req.ContentLength = int64(len(img))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("POST: %d", resp.StatusCode)
	}
	if !withUpload {
		req, _ = http.NewRequest(http.MethodPatch, resp.Header.Get("Location"), bytes.NewReader(img))
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", "0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		if resp, err = c.Do(req); err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("PATCH: %d", resp.StatusCode)
		}
	}
	if resp.Header.Get("Image-Sha256") == "" {
		return fmt.Errorf("no Image-Sha256 in %v", resp.Header)
	}
	return nil
}

// BenchmarkUploadSmall uploads distinct 200 KiB PNGs, 16 at a time, through
// a real listener: the small-upload workload of deploy/bench/compare.sh.
// Client and server share the process, so ns/op and allocs/op include the
// client's share (the same before and after a server change).
func BenchmarkUploadSmall(b *testing.B) {
	for _, withUpload := range []bool{false, true} {
		name := "post+patch"
		if withUpload {
			name = "creation-with-upload"
		}
		b.Run(name, func(b *testing.B) {
			base, stop := benchServer(b)
			defer stop()
			c := benchClient()
			defer c.CloseIdleConnections()
			var n atomic.Uint64
			imgs := newDistinctPNGs(b, &n)
			b.SetParallelism(8)
			b.SetBytes(200 << 10)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				imgs := imgs.clone()
				for pb.Next() {
					if err := tusUpload(c, base, imgs.next(), withUpload); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkGetImage reads published 200 KiB images through the whole
// server, 16 requests at a time: GET (sendfile), HEAD and a conditional GET
// answered 304.
func BenchmarkGetImage(b *testing.B) {
	base, stop := benchServer(b)
	defer stop()
	c := benchClient()
	defer c.CloseIdleConnections()
	var n atomic.Uint64
	imgs := newDistinctPNGs(b, &n)
	var urls []string
	for range 16 {
		img := imgs.next()
		if err := tusUpload(c, base, img, true); err != nil {
			b.Fatal(err)
		}
		sum := sha256.Sum256(img)
		urls = append(urls, base+"/i/"+hex.EncodeToString(sum[:])+".png")
	}
	for _, mode := range []struct {
		name, method string
		etag         bool
		status       int
	}{{"get", "GET", false, 200}, {"head", "HEAD", false, 200}, {"304", "GET", true, 304}} {
		b.Run(mode.name, func(b *testing.B) {
			var i atomic.Uint64
			b.SetParallelism(8)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					u := urls[i.Add(1)%uint64(len(urls))]
					req, _ := http.NewRequest(mode.method, u, nil)
					if mode.etag {
						req.Header.Set("If-None-Match", `"`+u[len(base)+3:len(base)+67]+`"`)
					}
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != mode.status {
						b.Errorf("%s: %d", mode.name, resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
