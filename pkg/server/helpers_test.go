package server_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/internal/tustest"
)

// tusReq sends one tus request (see tustest.Req).
func tusReq(t *testing.T, method, url string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	return tustest.Req(t, method, url, hdr, body)
}

func metadata(kv ...string) string { return tustest.Metadata(kv...) }

// create POSTs a new upload of size bytes and returns its absolute URL.
func create(t *testing.T, ts *testserver.TS, size int, meta string) string {
	t.Helper()
	return tustest.Create(t, ts.URL, size, meta)
}

func patch(t *testing.T, url string, offset int, chunk []byte) (*http.Response, []byte) {
	t.Helper()
	return tustest.Patch(t, url, offset, chunk)
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatalf("testdata: %v", err)
	}
	return b
}

func sha(b []byte) string { return tustest.SHA256(b) }

// apiError decodes our JSON error body; anything else fails the test.
func apiError(t *testing.T, body []byte) (code, message string) {
	t.Helper()
	code, message, ok := tustest.APIError(body)
	if !ok {
		t.Fatalf("error body is not our JSON: %q", body)
	}
	return code, message
}

// files lists the regular files under dir (relative paths, sorted).
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// uploadFiles lists the upload area without the run marker and outcomes.
func uploadFiles(t *testing.T, ts *testserver.TS) (data []string, outcomes int) {
	for _, f := range files(t, filepath.Join(ts.Data, "uploads")) {
		switch {
		case f == ".running":
		case strings.HasSuffix(f, ".outcome"):
			outcomes++
		default:
			data = append(data, f)
		}
	}
	return data, outcomes
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}
