package server_test

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"github.com/tusimg/tusimg/internal/testserver"
)

func checksumHeader(alg string, b []byte) string {
	if alg == "sha1" {
		s := sha1.Sum(b)
		return "sha1 " + base64.StdEncoding.EncodeToString(s[:])
	}
	s := sha256.Sum256(b)
	return "sha256 " + base64.StdEncoding.EncodeToString(s[:])
}

func patchSum(t *testing.T, url string, off int, chunk []byte, sum string) (int, string, []byte) {
	t.Helper()
	resp, body := tusReq(t, "PATCH", url, map[string]string{"Upload-Offset": strconv.Itoa(off),
		"Content-Type": "application/offset+octet-stream", "Upload-Checksum": sum}, chunk)
	return resp.StatusCode, resp.Header.Get("Upload-Offset"), body
}

// TestChecksumExtension covers the tus checksum extension: advertised,
// sha1 and sha256 verified per chunk, a mismatch is 460 with the chunk
// discarded (offset unchanged, the upload still finishes correctly), an
// unknown algorithm or malformed value is 400.
func TestChecksumExtension(t *testing.T) {
	ts := testserver.Start(t, nil)
	resp, _ := tusReq(t, "OPTIONS", ts.URL+"/files/", nil, nil)
	if !strings.Contains(resp.Header.Get("Tus-Extension"), "checksum") || resp.Header.Get("Tus-Checksum-Algorithm") != "sha1,sha256" {
		t.Fatalf("not advertised: %v", resp.Header)
	}
	img := readTestdata(t, "ok.png")
	url := create(t, ts, len(img), metadata("filename", "a.png"))
	if code, off, body := patchSum(t, url, 0, img[:1000], checksumHeader("sha1", img[:1000])); code != 204 || off != "1000" {
		t.Fatalf("good sha1 chunk: %d %s %s", code, off, body)
	}
	bad := append([]byte{}, img[1000:2000]...)
	bad[10] ^= 0xff
	code, _, body := patchSum(t, url, 1000, bad, checksumHeader("sha256", img[1000:2000]))
	if c, _ := apiError(t, body); code != 460 || c != "checksum_mismatch" {
		t.Fatalf("corrupted chunk: %d %s", code, body)
	}
	if r, _ := tusReq(t, "HEAD", url, nil, nil); r.Header.Get("Upload-Offset") != "1000" {
		t.Fatalf("offset after a discarded chunk = %q, want 1000", r.Header.Get("Upload-Offset"))
	}
	for _, h := range []string{"md5 " + base64.StdEncoding.EncodeToString(make([]byte, 16)), "sha256 !!!", "sha256", "sha1 AAAA"} {
		if code, _, body := patchSum(t, url, 1000, img[1000:2000], h); code != 400 {
			t.Errorf("Upload-Checksum %q: %d %s, want 400", h, code, body)
		}
	}
	// The final chunk, corrupted: 460 and nothing published; then resent right.
	code, _, _ = patchSum(t, url, 1000, append(append([]byte{}, img[1000:len(img)-1]...), 0), checksumHeader("sha256", img[1000:]))
	if code != 460 {
		t.Fatalf("corrupted final chunk: %d", code)
	}
	resp, body = tusReq(t, "PATCH", url, map[string]string{"Upload-Offset": "1000", "Content-Type": "application/offset+octet-stream",
		"Upload-Checksum": checksumHeader("sha256", img[1000:])}, img[1000:])
	if resp.StatusCode != 204 || resp.Header.Get("Image-Sha256") != sha(img) {
		t.Fatalf("final chunk resent: %d %s", resp.StatusCode, body)
	}
	// creation-with-upload carries a checksum too.
	png := readTestdata(t, "ok.jpg")
	resp, body = tusReq(t, "POST", ts.URL+"/files/", map[string]string{"Upload-Length": strconv.Itoa(len(png)),
		"Content-Type": "application/offset+octet-stream", "Upload-Checksum": checksumHeader("sha1", png[:len(png)-1])}, png)
	if resp.StatusCode != 460 {
		t.Fatalf("creation-with-upload, wrong checksum: %d %s", resp.StatusCode, body)
	}
}
