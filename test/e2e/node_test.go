package e2e

import (
	"bufio"
	"context"
	"errors"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
)

// TestNodeTusClient runs the Node tests in test/node/ (node --test) against a
// real server: uploads, resumes, rejections and termination driven by the
// real tus-js-client. The Node side reads TUSIMG_URL, TUSIMG_DATA,
// TUSIMG_TESTDATA and TUSIMG_LARGE_PNG.
func TestNodeTusClient(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	nodeDir := filepath.Join(root, "test", "node")
	node, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(nodeDir, "node_modules", "tus-js-client", "package.json"))
	testserver.Need(t, nodeErr == nil && modErr == nil, "node and npm packages in test/node", "cd test/node && npm ci")

	tests, err := filepath.Glob(filepath.Join(nodeDir, "*.test.mjs"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no *.test.mjs in %s (%v)", nodeDir, err)
	}
	sort.Strings(tests)

	large := filepath.Join(t.TempDir(), "large.png")
	noisyPNG(t, large, 760, 700, [2]uint64{0x7475, 0x73696d67}, png.DefaultCompression) // about 2 MB: random pixels do not compress

	ts := testserver.Start(t, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"--test", "--test-reporter=spec"}, tests...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(),
		"TUSIMG_URL="+ts.URL,
		"TUSIMG_DATA="+ts.Data,
		"TUSIMG_TESTDATA="+filepath.Join(root, "testdata"),
		"TUSIMG_LARGE_PNG="+large,
		"NO_COLOR=1",
	)
	// On timeout ask node to stop (it ends its test subprocesses), then kill
	// it; WaitDelay bounds the wait for output pipes held by grandchildren.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second

	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr) // a line longer than 1 MiB: keep draining
	}()

	start := time.Now()
	err = cmd.Run()
	pw.Close()
	<-logged
	t.Logf("node --test took %s", time.Since(start).Round(time.Millisecond))
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("node tests did not finish within the time limit: %v", err)
	}
	if err != nil {
		t.Fatalf("node tests failed: %v", err)
	}
}

// noisyPNG writes a w x h RGBA PNG of pseudo-random pixels (they do not
// compress), the same bytes on every run for the same seed and level.
func noisyPNG(t *testing.T, path string, w, h int, seed [2]uint64, level png.CompressionLevel) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed[0], seed[1]))
	for i := 0; i < len(img.Pix); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(img.Pix); j++ {
			img.Pix[i+j] = byte(v >> (8 * j))
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&png.Encoder{CompressionLevel: level}).Encode(f, img); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
