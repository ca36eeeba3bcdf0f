package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/auth"
	"github.com/tusimg/tusimg/pkg/config"
)

const testSecret = "0123456789abcdef0123456789abcdef-test"

func token(t *testing.T, subject string, ttl time.Duration, max int64) string {
	t.Helper()
	tok, err := auth.Mint([]byte(testSecret), auth.Claims{Subject: subject, Expires: time.Now().Add(ttl).Unix(), MaxSize: max})
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// TestUploadTokens: with --auth-secret, creating needs a valid token, and
// each subject can resume, inspect and terminate only its own uploads.
func TestUploadTokens(t *testing.T) {
	ts := testserver.Start(t, func(c *config.Config) { c.AuthSecret = testSecret })
	img := readTestdata(t, "ok.png")
	alice, bob := token(t, "alice", time.Hour, 0), token(t, "bob", time.Hour, 0)
	hdr := func(authz string, kv ...string) map[string]string {
		m := map[string]string{"Authorization": authz}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	length := strconv.Itoa(len(img))
	for name, authz := range map[string]string{"none": "", "garbage": "Bearer nope", "expired": token(t, "alice", -time.Minute, 0),
		"other key": "Bearer " + mintWith(t, "another key of at least thirty-two bytes", "alice")} {
		resp, body := tusReq(t, "POST", ts.URL+"/files/", hdr(authz, "Upload-Length", length), nil)
		if code, _ := apiError(t, body); resp.StatusCode != 401 || code != "unauthorized" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s token: %d %s", name, resp.StatusCode, body)
		}
	}
	resp, body := tusReq(t, "POST", ts.URL+"/files/", hdr(alice, "Upload-Length", length, "Upload-Metadata", metadata("tusimg_owner", "bob")), nil)
	if resp.StatusCode != 400 {
		t.Errorf("client-set owner metadata: %d %s", resp.StatusCode, body)
	}
	resp, body = tusReq(t, "POST", ts.URL+"/files/", hdr(alice, "Upload-Length", length), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("alice creates: %d %s", resp.StatusCode, body)
	}
	url := resp.Header.Get("Location")
	id := url[strings.LastIndex(url, "/")+1:]
	patchHdr := func(authz string) map[string]string {
		return hdr(authz, "Upload-Offset", "0", "Content-Type", "application/offset+octet-stream")
	}
	for _, c := range []struct{ method, url string }{{"HEAD", url}, {"PATCH", url}, {"DELETE", url}, {"GET", ts.URL + "/api/v1/uploads/" + id}} {
		var b []byte
		if c.method == "PATCH" {
			b = img[:100]
		}
		if resp, _ := tusReq(t, c.method, c.url, patchHdr(bob), b); resp.StatusCode != 403 {
			t.Errorf("bob %s alice's upload: %d, want 403", c.method, resp.StatusCode)
		}
		if resp, _ := tusReq(t, c.method, c.url, patchHdr(""), b); resp.StatusCode != 401 {
			t.Errorf("anonymous %s: %d, want 401", c.method, resp.StatusCode)
		}
	}
	if resp, body := tusReq(t, "PATCH", url, patchHdr(alice), img); resp.StatusCode != 204 || resp.Header.Get("Image-Sha256") != sha(img) {
		t.Fatalf("alice finishes: %d %s", resp.StatusCode, body)
	}
	// Reads stay public by default; the one-shot API needs a token.
	if resp, _ := get(t, ts.URL+"/i/"+sha(img)); resp.StatusCode != 200 {
		t.Errorf("public read: %d", resp.StatusCode)
	}
	if resp, _ := postRaw(t, ts.URL+"/api/v1/images", "image/png", img); resp.StatusCode != 401 {
		t.Errorf("anonymous one-shot: %d", resp.StatusCode)
	}
	// A token's size cap applies.
	small := token(t, "carol", time.Hour, 100)
	if resp, body := tusReq(t, "POST", ts.URL+"/files/", hdr(small, "Upload-Length", length), nil); resp.StatusCode != 413 {
		t.Errorf("over the token's max: %d %s", resp.StatusCode, body)
	}
	// The CORS preflight needs no token.
	if resp, _ := tusReq(t, "OPTIONS", ts.URL+"/files/", map[string]string{"Origin": "http://a.test"}, nil); resp.StatusCode != 200 {
		t.Errorf("preflight: %d", resp.StatusCode)
	}
}

func mintWith(t *testing.T, key, subject string) string {
	tok, err := auth.Mint([]byte(key), auth.Claims{Subject: subject, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestStaticTokenAndAuthRead: a static bearer token, and --auth-read
// closing the read side too.
func TestStaticTokenAndAuthRead(t *testing.T) {
	ts := testserver.Start(t, func(c *config.Config) { c.AuthToken = "static-token-0123456789"; c.AuthRead = true })
	img := readTestdata(t, "ok.jpg")
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/images", strings.NewReader(string(img)))
	req.Header.Set("Authorization", "Bearer static-token-0123456789")
	req.Header.Set("Content-Type", "image/jpeg")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("static token one-shot: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, p := range []string{"/i/" + sha(img), "/api/v1/images", "/api/v1/images/" + sha(img)} {
		if resp, _ := get(t, ts.URL+p); resp.StatusCode != 401 {
			t.Errorf("anonymous %s with --auth-read: %d", p, resp.StatusCode)
		}
		req, _ := http.NewRequest("GET", ts.URL+p, nil)
		req.Header.Set("Authorization", "Bearer static-token-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("authorised %s: %v %v", p, resp, err)
		}
		resp.Body.Close()
	}
}
