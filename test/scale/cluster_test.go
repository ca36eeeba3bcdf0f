// Package scale_test runs several real tusimg processes on one S3 bucket
// (versitygw) and one Redis, as behind a load balancer without sticky
// sessions.
package scale_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/redistest"
	"github.com/tusimg/tusimg/internal/s3test"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tusimg-scale-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "tusimg")
	build := exec.Command("go", "build", "-o", binary, "./cmd/tusimg")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build tusimg: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cluster is one bucket and one Redis shared by instances.
type cluster struct {
	s3    *s3test.Server
	redis *redistest.Server
}

func newCluster(t *testing.T) *cluster {
	return &cluster{s3: s3test.Start(t), redis: redistest.Start(t)}
}

// instance is a tusimg child process of the cluster.
type instance struct {
	URL  string
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
}

// start runs a tusimg instance in S3 + Redis mode with extra flags.
func (c *cluster) start(t *testing.T, extra ...string) *instance {
	t.Helper()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--store", "s3",
		"--s3-bucket", c.s3.Bucket, "--s3-endpoint", c.s3.Endpoint, "--s3-region", c.s3.Region, "--s3-path-style",
		"--s3-prefix", "tusimg/", "--redis-url", "redis://" + c.redis.Addr + "/0", "--lock-ttl", "2s",
		"--lock-timeout", "1s", "--log-format", "json"}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+c.s3.AccessKey, "AWS_SECRET_ACCESS_KEY="+c.s3.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true")
	in := &instance{cmd: cmd, logs: &lockedBuffer{}, done: make(chan struct{})}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			in.logs.WriteLine(line)
			var m struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "server.started" {
				addr <- m.Addr
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(in.done) }()
	t.Cleanup(func() { in.kill(); logOnFailure(t, in) })
	select {
	case a := <-addr:
		in.URL = "http://" + a
	case <-in.done:
		t.Fatalf("tusimg exited: %s", in.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("tusimg did not start: %s", in.logs.String())
	}
	return in
}

func logOnFailure(t *testing.T, in *instance) {
	if t.Failed() {
		t.Logf("instance %s log:\n%s", in.URL, in.logs.String())
	}
}

// kill sends SIGKILL and waits for the process (idempotent).
func (in *instance) kill() {
	_ = in.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-in.done:
	case <-time.After(10 * time.Second):
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) WriteLine(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 1<<20 {
		l.b.WriteString(s + "\n")
	}
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// do sends a tus request and returns the response with its body read.
func do(t *testing.T, method, url string, hdr map[string]string, body io.Reader, size int64) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func create(t *testing.T, in *instance, size int) string {
	t.Helper()
	resp, body := do(t, "POST", in.URL+"/files/", map[string]string{"Upload-Length": strconv.Itoa(size)}, nil, 0)
	if resp.StatusCode != 201 {
		t.Fatalf("POST on %s: %d %s", in.URL, resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	return loc[strings.Index(loc, "/files/")+len("/files/"):]
}

func patch(t *testing.T, in *instance, id string, off int, chunk []byte) (*http.Response, []byte) {
	t.Helper()
	return do(t, "PATCH", in.URL+"/files/"+id, map[string]string{"Upload-Offset": strconv.Itoa(off),
		"Content-Type": "application/offset+octet-stream"}, bytes.NewReader(chunk), int64(len(chunk)))
}

func offset(t *testing.T, in *instance, id string) (int, int) {
	t.Helper()
	resp, _ := do(t, "HEAD", in.URL+"/files/"+id, nil, nil, 0)
	off, _ := strconv.Atoi(resp.Header.Get("Upload-Offset"))
	return resp.StatusCode, off
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// noisePNG is a valid PNG of about w*h*4 bytes (random pixels, stored).
func noisePNG(t *testing.T, w, h int, seed int64) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewSource(seed))
	r.Read(img.Pix)
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
