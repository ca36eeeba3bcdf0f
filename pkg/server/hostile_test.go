package server_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tusimg/tusimg/internal/testserver"
)

// hostile is the table of bad files (testdata/) with their documented
// outcome (DESIGN section 4). created says whether the upload gets past
// pre-create (judged on metadata alone).
var hostile = []struct {
	file, filename, filetype string
	status                   int
	code                     string
	created                  bool
}{
	{"html_as.png", "page.png", "", 415, "type_not_allowed", true},
	{"svg_as.png", "drawing.png", "", 415, "type_not_allowed", true},
	{"svg_script.svg", "drawing.svg", "", 415, "type_not_allowed", false},
	{"svg_script.svg", "", "image/svg+xml", 415, "type_not_allowed", false},
	{"text.txt", "notes.txt", "", 415, "type_not_allowed", false},
	{"bad_crc.png", "crc.png", "", 422, "corrupt_image", true},
	{"truncated.jpg", "cut.jpg", "", 422, "corrupt_image", true},
	{"bomb_100k.png", "bomb.png", "", 422, "dimensions_too_large", true},
	{"bomb_50mpx.png", "bomb.png", "", 422, "dimensions_too_large", true},
	{"bomb.gif", "bomb.gif", "", 422, "dimensions_too_large", true},
	{"many_frames.gif", "frames.gif", "", 422, "too_many_frames", true},
	{"bomb.jpg", "bomb.jpg", "", 422, "dimensions_too_large", true},
	{"empty.png", "empty.png", "", 422, "empty", true},
	{"jpeg_named.png", "photo.png", "", 422, "extension_mismatch", true},
	{"ok.png", "", "image/jpeg", 422, "declared_type_mismatch", true},
	{"ok.png", "x.png", "image/jpeg", 422, "declared_type_mismatch", false},
	{"polyglot.png", "poly.png", "", 422, "trailing_data", true},
	{"polyglot.jpg", "poly.jpg", "", 422, "trailing_data", true},
}

// TestHostileFilesTus uploads every hostile file with a tus client and
// checks the status, the JSON error, that nothing stays on disk, that HEAD no
// longer looks finished and that the status API tells the reason.
func TestHostileFilesTus(t *testing.T) {
	ts := testserver.Start(t, nil)
	for _, c := range hostile {
		t.Run(c.file+"/"+c.filename+c.filetype, func(t *testing.T) {
			b := readTestdata(t, c.file)
			var kv []string
			if c.filename != "" {
				kv = append(kv, "filename", c.filename)
			}
			if c.filetype != "" {
				kv = append(kv, "filetype", c.filetype)
			}
			resp, body := tusReq(t, "POST", ts.URL+"/files/", map[string]string{
				"Upload-Length": strconv.Itoa(len(b)), "Upload-Metadata": metadata(kv...)}, nil)
			if !c.created {
				checkRejected(t, resp, body, c.status, c.code)
				return
			}
			if resp.StatusCode != 201 {
				if len(b) == 0 { // an empty upload finishes (and is judged) at creation
					checkRejected(t, resp, body, c.status, c.code)
					return
				}
				t.Fatalf("POST: %d %s", resp.StatusCode, body)
			}
			url := resp.Header.Get("Location")
			resp, body = patch(t, url, 0, b)
			checkRejected(t, resp, body, c.status, c.code)
			if resp, _ := tusReq(t, "HEAD", url, nil, nil); resp.StatusCode != 410 {
				t.Errorf("HEAD after rejection: %d, want 410", resp.StatusCode)
			}
			if resp, body := patch(t, url, 0, b); resp.StatusCode != c.status {
				t.Errorf("retried PATCH after rejection: %d %s, want the same %d", resp.StatusCode, body, c.status)
			}
			id := url[strings.LastIndex(url, "/")+1:]
			_, body = get(t, ts.URL+"/api/v1/uploads/"+id)
			var st struct {
				State string `json:"state"`
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &st); err != nil || st.State != "rejected" || st.Error.Code != c.code {
				t.Errorf("status API: %s", body)
			}
		})
	}
	if data, _ := uploadFiles(t, ts); len(data) != 0 {
		t.Errorf("rejected bytes left in uploads/: %v", data)
	}
	if imgs := files(t, filepath.Join(ts.Data, "images")); len(imgs) != 0 {
		t.Errorf("rejected files published: %v", imgs)
	}
}

func checkRejected(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	got, msg := apiError(t, body)
	if got != code || msg == "" {
		t.Fatalf("error code %q (%q), want %q", got, msg, code)
	}
}

// TestHostileFilesOneShot sends the same table through POST /api/v1/images.
func TestHostileFilesOneShot(t *testing.T) {
	ts := testserver.Start(t, nil)
	for _, c := range hostile {
		t.Run(c.file+"/"+c.filename+c.filetype, func(t *testing.T) {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			hdr := map[string][]string{"Content-Disposition": {`form-data; name="file"; filename="` + c.filename + `"`}}
			if c.filetype != "" {
				hdr["Content-Type"] = []string{c.filetype}
			}
			pw, _ := mw.CreatePart(hdr)
			pw.Write(readTestdata(t, c.file))
			mw.Close()
			resp, err := http.Post(ts.URL+"/api/v1/images", mw.FormDataContentType(), &buf)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			checkRejected(t, resp, body.Bytes(), c.status, c.code)
		})
	}
	if tmp := files(t, filepath.Join(ts.Data, "tmp")); len(tmp) != 0 {
		t.Errorf("temp files left: %v", tmp)
	}
	if imgs := files(t, filepath.Join(ts.Data, "images")); len(imgs) != 0 {
		t.Errorf("rejected files published: %v", imgs)
	}
}
