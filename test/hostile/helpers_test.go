// Package hostile_test attacks the real in-process server (testserver, on
// 127.0.0.1) the way hostile or broken clients do: slow headers, many
// connections, oversized and malformed headers, lying bodies, decompression
// bombs, and more uploads than the limits allow. Every test is bounded in
// count and time, and asserts only on "was cut / was not cut" and on memory,
// with generous margins, never on speed.
package hostile_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/internal/tustest"
)

// client is a plain HTTP client with a bound on every exchange, so a server
// that hangs fails the test instead of hanging it.
var client = tustest.Client

// tusReq sends one tus request (see tustest.Req).
func tusReq(t testing.TB, method, url string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	return tustest.Req(t, method, url, hdr, body)
}

func metadata(kv ...string) string { return tustest.Metadata(kv...) }

// create POSTs a new upload of size bytes and returns its absolute URL.
func create(t testing.TB, ts *testserver.TS, size int, meta string) string {
	t.Helper()
	return tustest.Create(t, ts.URL, size, meta)
}

func patch(t testing.TB, url string, offset int, chunk []byte) (*http.Response, []byte) {
	t.Helper()
	return tustest.Patch(t, url, offset, chunk)
}

// upload creates an upload of b and sends it in one PATCH.
func upload(t testing.TB, ts *testserver.TS, b []byte, meta string) (*http.Response, []byte) {
	t.Helper()
	return patch(t, create(t, ts, len(b), meta), 0, b)
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatalf("testdata: %v", err)
	}
	return b
}

func sha(b []byte) string { return tustest.SHA256(b) }

// apiError decodes our JSON error body (code "" when it is not one).
func apiError(body []byte) (code, message string) {
	code, message, _ = tustest.APIError(body)
	return code, message
}

// uploadID is the last path element of an upload URL.
func uploadID(url string) string { return url[strings.LastIndex(url, "/")+1:] }

// dataFiles lists the regular files under DATA/uploads and DATA/tmp
// (relative to DATA), without the run marker.
func dataFiles(t testing.TB, ts *testserver.TS) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"uploads", "tmp"} {
		_ = filepath.WalkDir(filepath.Join(ts.Data, sub), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && d.Name() != ".running" {
				rel, _ := filepath.Rel(ts.Data, p)
				out = append(out, rel)
			}
			return nil
		})
	}
	slices.Sort(out)
	return out
}

// newFiles returns the entries of after that are not in before.
func newFiles(before, after []string) []string {
	var out []string
	for _, f := range after {
		if !slices.Contains(before, f) {
			out = append(out, f)
		}
	}
	return out
}

// uploadState reads GET /api/v1/uploads/{id}.
type uploadState struct {
	State  string `json:"state"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"`
}

func status(t testing.TB, ts *testserver.TS, id string) (int, uploadState) {
	t.Helper()
	resp, err := client.Get(ts.URL + "/api/v1/uploads/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st uploadState
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return resp.StatusCode, st
}

// raw sends req (a complete or partial HTTP/1.1 request) on a new
// connection and reads one response. With end "half-close" it shuts down its
// sending side first; with "close" it closes the connection at once and
// returns no response.
func raw(t testing.TB, addr, req, end string) (*http.Response, []byte, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, nil, err
	}
	switch end {
	case "close":
		return nil, nil, conn.Close()
	case "half-close":
		conn.(*net.TCPConn).CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b, nil
}

// hostPort is the server's address without the scheme.
func hostPort(ts *testserver.TS) string { return strings.TrimPrefix(ts.URL, "http://") }

// slowBody yields b in pieces of n bytes, waiting pause before each.
type slowBody struct {
	b     []byte
	n     int
	pause time.Duration
	sent  int
}

func (s *slowBody) Read(p []byte) (int, error) {
	if s.sent >= len(s.b) {
		return 0, io.EOF
	}
	time.Sleep(s.pause)
	k := copy(p[:min(len(p), s.n)], s.b[s.sent:])
	s.sent += k
	return k, nil
}

// slowPatch sends size bytes from body to url at offset 0.
func slowPatch(url string, body io.Reader, size int) (*http.Response, error) {
	return tustest.PatchStream(url, 0, body, size)
}

// noisePNG is a distinct w x h PNG of random pixels (seeded), a few KiB
// per 1,000 pixels, so uploads of it neither dedupe nor compress away.
func noisePNG(t testing.TB, seed int64, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewSource(seed))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Intn(256))
	}
	img.Set(0, 0, color.NRGBA{byte(seed), byte(seed >> 8), 3, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads and closes resp's body.
func readAll(resp *http.Response) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// fmtMiB formats bytes as MiB.
func fmtMiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// fmtGrowth formats a change in bytes as signed MiB.
func fmtGrowth(b int64) string { return fmt.Sprintf("%+.1f MiB", float64(b)/(1<<20)) }
