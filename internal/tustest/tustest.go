// Package tustest is a minimal raw tus 1.0 client for tests: one request at
// a time, bodies read, every exchange bounded in time. It also decodes our
// JSON error bodies and hashes test bytes.
package tustest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Client bounds every exchange, so a server that hangs fails the test
// instead of hanging it.
var Client = &http.Client{Timeout: 30 * time.Second}

// Req sends one tus request (Tus-Resumable: 1.0.0 unless hdr sets it to "";
// any header set to "" is removed) and returns the response with its body
// read. A nil body is sent as no body.
func Req(t testing.TB, method, url string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// Metadata encodes tus Upload-Metadata from key, value pairs.
func Metadata(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// Create POSTs a new upload of size bytes to base+"/files/" and returns its
// absolute URL; anything but 201 fails the test.
func Create(t testing.TB, base string, size int, meta string) string {
	t.Helper()
	resp, body := Req(t, "POST", base+"/files/", map[string]string{
		"Upload-Length": strconv.Itoa(size), "Upload-Metadata": meta}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /files/: status %d, body %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, base+"/files/") {
		t.Fatalf("Location %q is not under %s/files/", loc, base)
	}
	return loc
}

// Patch sends chunk at offset.
func Patch(t testing.TB, url string, offset int, chunk []byte) (*http.Response, []byte) {
	t.Helper()
	return Req(t, "PATCH", url, map[string]string{
		"Upload-Offset": strconv.Itoa(offset), "Content-Type": "application/offset+octet-stream"}, chunk)
}

// SHA256 is the lowercase hex SHA-256 of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// APIError decodes our JSON error body; ok is false when body is not one.
func APIError(body []byte) (code, message string, ok bool) {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Code == "" {
		return "", "", false
	}
	return e.Error.Code, e.Error.Message, true
}

// PatchStream sends a PATCH at offset whose body is read from body (size
// bytes), for slow or cut-off bodies and for use outside the test goroutine.
// The caller closes the response body.
func PatchStream(url string, offset int, body io.Reader, size int) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPatch, url, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(size)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", strconv.Itoa(offset))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	return Client.Do(req)
}
