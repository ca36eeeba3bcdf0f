// Package web owns the browser page served at / (the Uppy Dashboard upload
// page and gallery): its bundled assets under dist/ are committed and embedded,
// so building tusimg never needs npm. It does not know about uploads or
// storage; the page talks to the server's public API.
//
// dist/ is built from src/ by `cd web/src && npm ci && npm run build`;
// TestDistMatchesSources keeps the two in step.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed dist
var dist embed.FS

// ContentSecurityPolicy is the page's policy: everything from this origin
// only, no inline script or style elements; images may also be blob: and
// data: URLs (Uppy's thumbnails and its CSS icons), media blob: (the webcam
// preview), and connections blob: (the image editor reads the picked file
// back). Nothing is loaded from other origins.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self' blob:; font-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Cache-Control values: hashed asset names never change content, so they
// are cached for a year; the page is revalidated on every load (its ETag
// makes that a 304), so a new release is seen at once.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cachePage      = "no-cache"
)

// hashedName matches the names the build gives assets: name-<8 chars>.ext.
var hashedName = regexp.MustCompile(`^[a-z0-9_]+-[A-Z0-9]{8}\.[a-z0-9]+$`)

// file is one servable file, with a gzip copy when that is smaller.
type file struct {
	name  string
	body  []byte
	gz    []byte
	etag  string
	ctype string
	cache string
}

// Handler serves the page at / and its assets at /assets/<hashed name>;
// every other path is 404 (no directory listings, no index.html alias). It
// answers GET and HEAD, sets the security headers of ContentSecurityPolicy
// and friends on every answer, supports If-None-Match and, for clients that
// accept it, gzip. It is safe for concurrent use.
func Handler() http.Handler {
	files := loadFiles()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		f, ok := files[r.URL.Path]
		if !ok {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		f.serve(w, r)
	})
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(self), microphone=(), geolocation=(), payment=(), usb=()")
}

func (f *file) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", f.cache)
	body, etag := f.body, f.etag
	if f.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) && r.Header.Get("Range") == "" {
			body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gzip"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip (listed,
// and not with q=0).
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		name, value, _ := strings.Cut(strings.TrimSpace(params), "=")
		if strings.TrimSpace(name) != "q" {
			return true
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		return err == nil && q > 0
	}
	return false
}

// contentTypes are the types of what the build writes (not the system's
// mime tables, which differ between machines).
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".txt":   "text/plain; charset=utf-8",
	".png":   "image/png",
	".woff2": "font/woff2",
}

// loadFiles reads the embedded tree once: URL path -> file.
var loadFiles = sync.OnceValue(func() map[string]*file {
	files := map[string]*file{}
	add := func(urlPath, name string, cache string) {
		body, err := fs.ReadFile(dist, "dist/"+name)
		if err != nil {
			panic(err) // the embedded tree was listed a moment ago
		}
		sum := sha256.Sum256(body)
		ctype, ok := contentTypes[path.Ext(name)]
		if !ok {
			ctype = "application/octet-stream"
		}
		files[urlPath] = &file{name: name, body: body, gz: gzipped(body, ctype),
			etag: `"` + hex.EncodeToString(sum[:16]) + `"`, ctype: ctype, cache: cache}
	}
	add("/", "index.html", cachePage)
	entries, err := fs.ReadDir(dist, "dist/assets")
	if err != nil {
		return files // a page without assets (placeholder builds)
	}
	for _, e := range entries {
		cache := cachePage
		if hashedName.MatchString(e.Name()) {
			cache = cacheImmutable
		}
		add("/assets/"+e.Name(), "assets/"+e.Name(), cache)
	}
	return files
})

// gzipped returns a gzip copy of a text body when it saves at least a tenth.
func gzipped(body []byte, ctype string) []byte {
	if !strings.HasPrefix(ctype, "text/") && !strings.Contains(ctype, "javascript") &&
		!strings.Contains(ctype, "svg") && !strings.Contains(ctype, "json") {
		return nil
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil
	}
	if _, err := zw.Write(body); err != nil || zw.Close() != nil {
		return nil
	}
	if buf.Len() > len(body)*9/10 {
		return nil
	}
	return buf.Bytes()
}
