package hostile_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/config"
)

// manyKeys is Upload-Metadata with n keys without values (k0,k1,...).
func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	return strings.Join(keys, ",")
}

// TestHostileCreationHeaders sends creations (POST /files/) and PATCHes
// with hostile headers. Each gets its documented 4xx (JSON with a code where
// tusimg answers; Go's server answers 431 itself, as plain text, before any
// handler runs) and leaves nothing in DATA/uploads or DATA/tmp.
func TestHostileCreationHeaders(t *testing.T) {
	ts := testserver.Start(t, nil)                                                      // MaxHeaderBytes 64 KiB, metadata 4 KiB / 32 keys
	big := testserver.Start(t, func(c *config.Config) { c.MaxMetadataSize = 60 << 10 }) // lets 5,000 keys reach the key count
	img := readTestdata(t, "ok.png")
	existing := create(t, ts, len(img), "")
	length := strconv.Itoa(len(img))
	cases := []struct {
		name    string
		ts      *testserver.TS
		method  string
		url     string // "" for POST /files/
		hdr     map[string]string
		status  int
		code    string // our JSON error code; "" when not our JSON
		message string // part of the message, when it matters
	}{
		{name: "header block over MaxHeaderBytes", hdr: map[string]string{"Upload-Length": length,
			"X-Padding": strings.Repeat("a", 100<<10)}, status: 431},
		{name: "Upload-Metadata of 100 KiB (over MaxHeaderBytes first)", hdr: map[string]string{"Upload-Length": length,
			"Upload-Metadata": metadata("filename", strings.Repeat("a", 75<<10)+".png")}, status: 431},
		{name: "Upload-Metadata of 8 KiB", hdr: map[string]string{"Upload-Length": length,
			"Upload-Metadata": metadata("filename", strings.Repeat("a", 6<<10)+".png")}, status: 400, code: "bad_metadata", message: "limit"},
		{name: "5,000 metadata keys (size limit first)", hdr: map[string]string{"Upload-Length": length,
			"Upload-Metadata": manyKeys(5000)}, status: 400, code: "bad_metadata", message: "bytes"},
		{name: "5,000 metadata keys", ts: big, hdr: map[string]string{"Upload-Length": length,
			"Upload-Metadata": manyKeys(5000)}, status: 400, code: "bad_metadata", message: "keys"},
		{name: "invalid base64", hdr: map[string]string{"Upload-Length": length,
			"Upload-Metadata": "filename not*base64"}, status: 400, code: "bad_metadata", message: "base64"},
		{name: "NUL in the filename", hdr: map[string]string{"Upload-Length": length,
			"Upload-Metadata": metadata("filename", "a\x00.png")}, status: 400, code: "bad_metadata"},
		{name: "invalid UTF-8 in the filename", hdr: map[string]string{"Upload-Length": length,
			"Upload-Metadata": metadata("filename", "a\xff.png")}, status: 400, code: "bad_metadata"},
		{name: "negative Upload-Length", hdr: map[string]string{"Upload-Length": "-1"}, status: 400},
		{name: "overflowing Upload-Length", hdr: map[string]string{"Upload-Length": "99999999999999999999"}, status: 400},
		{name: "Upload-Length not a number", hdr: map[string]string{"Upload-Length": "1e3"}, status: 400},
		{name: "Upload-Length missing", hdr: map[string]string{}, status: 400},
		{name: "Upload-Length of MaxInt64", hdr: map[string]string{"Upload-Length": "9223372036854775807"}, status: 413, code: "too_large"},
		{name: "Tus-Resumable missing", hdr: map[string]string{"Upload-Length": length, "Tus-Resumable": ""}, status: 412},
		{name: "Tus-Resumable unsupported", hdr: map[string]string{"Upload-Length": length, "Tus-Resumable": "0.2.2"}, status: 412},
		{name: "negative Upload-Offset", method: "PATCH", url: existing, hdr: map[string]string{"Upload-Offset": "-1",
			"Content-Type": "application/offset+octet-stream"}, status: 400},
		{name: "overflowing Upload-Offset", method: "PATCH", url: existing, hdr: map[string]string{
			"Upload-Offset": "99999999999999999999", "Content-Type": "application/offset+octet-stream"}, status: 400},
		// HEAD without Tus-Resumable is answered 200: tusd exempts GET and
		// HEAD from the version check on purpose (browsers visit URLs).
		{name: "PATCH without Tus-Resumable", method: "PATCH", url: existing, hdr: map[string]string{"Upload-Offset": "0",
			"Content-Type": "application/offset+octet-stream", "Tus-Resumable": ""}, status: 412},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, method, url := c.ts, c.method, c.url
			if srv == nil {
				srv = ts
			}
			if method == "" {
				method, url = "POST", srv.URL+"/files/"
			}
			before := dataFiles(t, srv)
			var body []byte
			if method == "PATCH" {
				body = img
			}
			resp, got := tusReq(t, method, url, c.hdr, body)
			if resp.StatusCode != c.status {
				t.Fatalf("%d %.200s, want %d", resp.StatusCode, got, c.status)
			}
			if c.code != "" {
				code, msg := apiError(got)
				if code != c.code || !strings.Contains(msg, c.message) {
					t.Fatalf("error %q %q, want code %q with %q in the message", code, msg, c.code, c.message)
				}
			}
			if added := newFiles(before, dataFiles(t, srv)); len(added) != 0 {
				t.Fatalf("files written: %v", added)
			}
		})
	}
	if resp, _ := tusReq(t, "HEAD", existing, nil, nil); resp.StatusCode != 200 || resp.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("the upload hostile PATCHes were sent to: HEAD %d, offset %q, want 0", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
}

// TestFilenamesAreSanitised uploads images whose filename metadata (tus)
// or query (one-shot) carries path and control characters: they are
// accepted, and the record keeps only a clean base name; nothing is written
// outside DATA.
func TestFilenamesAreSanitised(t *testing.T) {
	ts := testserver.Start(t, nil)
	cases := []struct{ sent, want string }{
		{"../../../../etc/passwd.png", "passwd.png"},
		{`..\..\windows\evil.png`, "evil.png"},
		{"/absolute/path.png", "path.png"},
		{"line\r\nbreak\tand\x1bescape.png", "linebreakandescape.png"},
		{"dir/.hidden.png", ".hidden.png"},
		{"trailing/", ""},
	}
	for i, c := range cases {
		for _, route := range []string{"tus", "one-shot"} {
			t.Run(route+"/"+strconv.Quote(c.sent), func(t *testing.T) {
				img := noisePNG(t, int64(1000+2*i+len(route)), 8, 8) // distinct: a dedupe keeps the first record
				var resp *http.Response
				var body []byte
				if route == "tus" {
					resp, body = upload(t, ts, img, metadata("filename", c.sent))
				} else {
					r, err := client.Post(ts.URL+"/api/v1/images?filename="+url.QueryEscape(c.sent), "image/png", strings.NewReader(string(img)))
					if err != nil {
						t.Fatal(err)
					}
					body = readAll(r)
					resp = r
				}
				if resp.StatusCode != 204 && resp.StatusCode != 201 {
					t.Fatalf("upload: %d %s", resp.StatusCode, body)
				}
				r, err := client.Get(ts.URL + "/api/v1/images/" + sha(img))
				if err != nil {
					t.Fatal(err)
				}
				var rec struct {
					Filename string `json:"filename"`
				}
				if err := json.Unmarshal(readAll(r), &rec); err != nil {
					t.Fatal(err)
				}
				if rec.Filename != c.want || strings.ContainsAny(rec.Filename, "/\\\x00\r\n") {
					t.Fatalf("record filename %q, want %q", rec.Filename, c.want)
				}
			})
		}
	}
}

// TestContentLengthLongerThanBody declares the whole image in Content-Length
// but sends only part of it, then drops the connection. The server must not
// hang on it: the upload's offset reflects exactly the bytes received (and
// its lock is free), and the client resumes from there.
func TestContentLengthLongerThanBody(t *testing.T) {
	ts := testserver.Start(t, nil)
	img := noisePNG(t, 7, 64, 64) // ~16 KiB: past the 3 KiB sniff
	for _, how := range []string{"close", "half-close"} {
		t.Run(how, func(t *testing.T) {
			loc := create(t, ts, len(img), "")
			sent := len(img) / 2
			req := fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"+
				"Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n%s",
				strings.TrimPrefix(loc, ts.URL), hostPort(ts), len(img), img[:sent])
			resp, body, err := raw(t, hostPort(ts), req, how)
			if how == "half-close" {
				// The server sees the body end early and can still answer.
				if err != nil {
					t.Fatalf("no answer after the half-close: %v", err)
				}
				t.Logf("answer to a body cut at %d of %d bytes: %d %s (Upload-Offset %q)", sent, len(img),
					resp.StatusCode, strings.TrimSpace(string(body)), resp.Header.Get("Upload-Offset"))
				if resp.StatusCode < 400 {
					t.Errorf("an incomplete body was answered %d", resp.StatusCode)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			var off string
			for {
				r, _ := tusReq(t, "HEAD", loc, nil, nil)
				off = r.Header.Get("Upload-Offset")
				if r.StatusCode == 200 && off == strconv.Itoa(sent) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("10 s after the connection ended: HEAD %d, Upload-Offset %q, want %d", r.StatusCode, off, sent)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if r, body := patch(t, loc, sent, img[sent:]); r.StatusCode != 204 || r.Header.Get("Image-Sha256") != sha(img) {
				t.Fatalf("resume from %d: %d %s", sent, r.StatusCode, body)
			}
		})
	}
}

// chunked frames b as one HTTP/1.1 chunked body.
func chunked(b []byte) string {
	return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(b), b)
}

func rawPatch(ts *testserver.TS, loc string, offset int, framing, body string) string {
	return fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: %d\r\n"+
		"Content-Type: application/offset+octet-stream\r\n%s\r\nConnection: close\r\n\r\n%s",
		strings.TrimPrefix(loc, ts.URL), hostPort(ts), offset, framing, body)
}

// TestChunkedBodyLargerThanUploadLength sends a chunked PATCH carrying the
// whole image plus 64 KiB more than Upload-Length declared.
func TestChunkedBodyLargerThanUploadLength(t *testing.T) {
	ts := testserver.Start(t, nil)
	img := readTestdata(t, "ok.png")
	loc := create(t, ts, len(img), metadata("filename", "ok.png"))
	extra := append(append([]byte{}, img...), make([]byte, 64<<10)...)
	resp, body, err := raw(t, hostPort(ts), rawPatch(ts, loc, 0, "Transfer-Encoding: chunked", chunked(extra)), "")
	if err != nil {
		t.Fatal(err)
	}
	code, _ := apiError(body)
	t.Logf("chunked PATCH of %d bytes to an upload of %d: %d %q %s, Upload-Offset %q, Image-Sha256 %q", len(extra), len(img),
		resp.StatusCode, code, strings.TrimSpace(string(body)), resp.Header.Get("Upload-Offset"), resp.Header.Get("Image-Sha256"))
	if resp.StatusCode != 413 {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
	// Nothing beyond Upload-Length is stored: the upload is exactly the
	// declared bytes, whatever the answer said.
	h, _ := tusReq(t, "HEAD", loc, nil, nil)
	_, st := status(t, ts, uploadID(loc))
	t.Logf("afterwards: HEAD %d (Upload-Offset %q, Image-Sha256 %q); status API %+v", h.StatusCode,
		h.Header.Get("Upload-Offset"), h.Header.Get("Image-Sha256"), st)
	if st.Offset > int64(len(img)) {
		t.Errorf("offset %d beyond Upload-Length %d", st.Offset, len(img))
	}
	if st.State == "completed" {
		r, err := client.Get(ts.URL + "/i/" + sha(img))
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(r); r.StatusCode != 200 || sha(got) != sha(img) {
			t.Errorf("published image: %d, %d bytes, want the %d declared bytes", r.StatusCode, len(got), len(img))
		}
		if resp.StatusCode >= 400 {
			// tusd writes the declared bytes, finishes the upload (pre-finish
			// checks and publishes it), then answers the body error. A client
			// that trusts the 413 abandons an upload that in fact completed;
			// HEAD tells it the truth.
			t.Logf("NOTE: answered %d, yet the upload completed and %s was published", resp.StatusCode, sha(img))
		}
	}
}

// TestPatchCompletedUpload sends more bytes to an upload that completed
// and was published: each attempt gets a 4xx, and neither the upload area
// nor the published image changes.
func TestPatchCompletedUpload(t *testing.T) {
	ts := testserver.Start(t, nil)
	img := readTestdata(t, "ok.png")
	loc := create(t, ts, len(img), metadata("filename", "ok.png"))
	if resp, body := patch(t, loc, 0, img); resp.StatusCode != 204 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	before := dataFiles(t, ts)
	more := make([]byte, 10)
	cases := []struct {
		name, req string
	}{
		{"offset at the end, 10 more bytes", rawPatch(ts, loc, len(img), "Content-Length: 10", string(more))},
		{"offset at the end, chunked", rawPatch(ts, loc, len(img), "Transfer-Encoding: chunked", chunked(more))},
		{"offset 0, the image and 10 bytes", rawPatch(ts, loc, 0, fmt.Sprintf("Content-Length: %d", len(img)+10), string(img)+string(more))},
		{"offset 0, the image chunked plus 10 bytes", rawPatch(ts, loc, 0, "Transfer-Encoding: chunked", chunked(append(append([]byte{}, img...), more...)))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body, err := raw(t, hostPort(ts), c.req, "")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d %s (Upload-Offset %q, Image-Sha256 %q)", resp.StatusCode, strings.TrimSpace(string(body)),
				resp.Header.Get("Upload-Offset"), resp.Header.Get("Image-Sha256"))
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("status %d, want a 4xx", resp.StatusCode)
			}
		})
	}
	if added := newFiles(before, dataFiles(t, ts)); len(added) != 0 {
		t.Errorf("files written: %v", added)
	}
	r, err := client.Get(ts.URL + "/i/" + sha(img))
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(r); sha(got) != sha(img) {
		t.Errorf("published image changed: %d bytes", len(got))
	}
	if _, st := status(t, ts, uploadID(loc)); st.State != "completed" || st.Offset != int64(len(img)) {
		t.Errorf("status after the extra PATCHes: %+v", st)
	}
}
