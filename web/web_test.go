package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pageAssets lists the /assets/ paths index.html references.
func pageAssets(t *testing.T, h http.Handler) []string {
	t.Helper()
	html := string(body(t, get(t, h, "/", nil)))
	assets := regexp.MustCompile(`"(/assets/[^"]+)"`).FindAllStringSubmatch(html, -1)
	var out []string
	for _, m := range assets {
		out = append(out, m[1])
	}
	return out
}

func checkSecurityHeaders(t *testing.T, res *http.Response) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for k, v := range want {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", res.Request.URL.Path, k, got, v)
		}
	}
}

func TestContentSecurityPolicyIsStrict(t *testing.T) {
	allowed := map[string]bool{"'self'": true, "'none'": true, "blob:": true, "data:": true}
	directives := map[string][]string{}
	for _, d := range strings.Split(ContentSecurityPolicy, ";") {
		f := strings.Fields(d)
		if len(f) == 0 {
			continue
		}
		directives[f[0]] = f[1:]
		for _, src := range f[1:] {
			if !allowed[src] {
				t.Errorf("%s allows %s: only 'self', 'none', blob: and data: may appear", f[0], src)
			}
		}
	}
	for name, want := range map[string]string{
		"default-src": "'self'", "script-src": "'self'", "style-src": "'self'", "object-src": "'none'",
		"base-uri": "'none'", "frame-ancestors": "'none'",
	} {
		if got := strings.Join(directives[name], " "); got != want {
			t.Errorf("%s is %q, want %q", name, got, want)
		}
	}
}

func TestHandlerPage(t *testing.T) {
	h := Handler()
	res := get(t, h, "/", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", res.StatusCode)
	}
	checkSecurityHeaders(t, res)
	if got := res.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := res.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("page Cache-Control = %q, want no-cache", got)
	}
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("page has no ETag, so no-cache cannot revalidate cheaply")
	}
	if res := get(t, h, "/", map[string]string{"If-None-Match": etag}); res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with the ETag = %d, want 304", res.StatusCode)
	}
	if html := string(body(t, res)); strings.Contains(html, "<script>") || strings.Contains(html, " style=") {
		t.Error("index.html has inline script or style, which the CSP blocks")
	}
}

func TestHandlerAssets(t *testing.T) {
	h := Handler()
	assets := pageAssets(t, h)
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
		".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8"}
	seen := map[string]bool{}
	for _, p := range assets {
		seen[filepath.Ext(p)] = true
		res := get(t, h, p, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", p, res.StatusCode)
			continue
		}
		checkSecurityHeaders(t, res)
		if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("%s Cache-Control = %q, want far-future immutable", p, got)
		}
		if got, want := res.Header.Get("Content-Type"), types[filepath.Ext(p)]; got != want {
			t.Errorf("%s Content-Type = %q, want %q", p, got, want)
		}
	}
	for _, ext := range []string{".js", ".css"} {
		if !seen[ext] {
			t.Errorf("index.html references no %s asset (found %v)", ext, assets)
		}
	}
}

func TestHandlerGzip(t *testing.T) {
	h := Handler()
	var js string
	for _, p := range pageAssets(t, h) {
		if strings.HasSuffix(p, ".js") {
			js = p
		}
	}
	if js == "" {
		t.Skip("no JS asset in this build")
	}
	plain := body(t, get(t, h, js, nil))
	res := get(t, h, js, map[string]string{"Accept-Encoding": "br, gzip"})
	if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("Content-Encoding %q, Vary %q", res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unzipped, plain) {
		t.Fatalf("gzip body does not decompress to the asset (err %v)", err)
	}
	if res := get(t, h, js, map[string]string{"Accept-Encoding": "gzip;q=0"}); res.Header.Get("Content-Encoding") != "" {
		t.Error("gzip sent although the client refused it with q=0")
	}
}

func TestAcceptsGzip(t *testing.T) {
	for ae, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip;q=1.0, *;q=0.5": true, "br": false,
		"gzip;q=0": false, "gzip; q=0.000": false, "gzip;q=0.1": true, "gzip;q=x": false, "xgzip": false,
	} {
		if got := acceptsGzip(ae); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", ae, got, want)
		}
	}
}

func TestHandlerNotFound(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/assets/app-ZZZZZZZZ.js", "/assets/", "/assets", "/index.html", "/favicon.ico",
		"/nope", "/assets/../index.html", "/dist/index.html"} {
		res := get(t, h, p, nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, res.StatusCode)
		}
		checkSecurityHeaders(t, res)
		if got := res.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("404 for %s Cache-Control = %q, want no-store", p, got)
		}
	}
}

// TestDistMatchesSources rebuilds src/ into a temporary directory and
// compares it byte for byte with the committed dist/, so nobody edits the
// bundle by hand or forgets to rebuild it. It needs web/src/node_modules:
// skipped without it locally, failed in CI.
func TestDistMatchesSources(t *testing.T) {
	need := func(ok bool, what string) {
		t.Helper()
		if ok {
			return
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: run `cd web/src && npm ci`", what)
		}
		t.Skipf("%s is missing; to check web/dist against web/src run `cd web/src && npm ci`", what)
	}
	_, err := os.Stat(filepath.Join("src", "node_modules", "esbuild"))
	need(err == nil, "web/src/node_modules")
	node, err := exec.LookPath("node")
	need(err == nil, "node")

	readTree(t, "src") // recorded as test inputs, so go test's cache notices source edits
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "build.mjs", "--out", out)
	cmd.Dir = "src"
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node build.mjs: %v\n%s", err, b)
	}
	want, got := readTree(t, out), readTree(t, "dist")
	for name, b := range want {
		switch g, ok := got[name]; {
		case !ok:
			t.Errorf("web/dist/%s is missing", name)
		case !bytes.Equal(g, b):
			t.Errorf("web/dist/%s differs from a fresh build", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("web/dist/%s is not produced by the build", name)
		}
	}
	if t.Failed() {
		t.Log("run `cd web/src && npm run build` and commit web/dist")
	}
}

// readTree reads every file under dir except node_modules: relative path -> bytes.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "node_modules" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
