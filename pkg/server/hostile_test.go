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

	"github.com/tusimg/tusimg/internal/testfiles"
	"github.com/tusimg/tusimg/internal/testserver"
)

// TestHostileFilesTus uploads every hostile file with a tus client and
// checks the status, the JSON error, that nothing stays on disk, that HEAD no
// longer looks finished and that the status API tells the reason.
func TestHostileFilesTus(t *testing.T) {
	ts := testserver.Start(t, nil)
	for _, c := range testfiles.Hostile {
		t.Run(c.Name(), func(t *testing.T) {
			b := readTestdata(t, c.File)
			var kv []string
			if c.Filename != "" {
				kv = append(kv, "filename", c.Filename)
			}
			if c.Filetype != "" {
				kv = append(kv, "filetype", c.Filetype)
			}
			resp, body := tusReq(t, "POST", ts.URL+"/files/", map[string]string{
				"Upload-Length": strconv.Itoa(len(b)), "Upload-Metadata": metadata(kv...)}, nil)
			if !c.Created {
				checkRejected(t, resp, body, c.Status, c.Code)
				return
			}
			if resp.StatusCode != 201 {
				if len(b) == 0 { // an empty upload finishes (and is judged) at creation
					checkRejected(t, resp, body, c.Status, c.Code)
					return
				}
				t.Fatalf("POST: %d %s", resp.StatusCode, body)
			}
			url := resp.Header.Get("Location")
			resp, body = patch(t, url, 0, b)
			checkRejected(t, resp, body, c.Status, c.Code)
			if resp, _ := tusReq(t, "HEAD", url, nil, nil); resp.StatusCode != 410 {
				t.Errorf("HEAD after rejection: %d, want 410", resp.StatusCode)
			}
			if resp, body := patch(t, url, 0, b); resp.StatusCode != c.Status {
				t.Errorf("retried PATCH after rejection: %d %s, want the same %d", resp.StatusCode, body, c.Status)
			}
			id := url[strings.LastIndex(url, "/")+1:]
			_, body = get(t, ts.URL+"/api/v1/uploads/"+id)
			var st struct {
				State string `json:"state"`
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &st); err != nil || st.State != "rejected" || st.Error.Code != c.Code {
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
	for _, c := range testfiles.Hostile {
		t.Run(c.Name(), func(t *testing.T) {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			hdr := map[string][]string{"Content-Disposition": {`form-data; name="file"; filename="` + c.Filename + `"`}}
			if c.Filetype != "" {
				hdr["Content-Type"] = []string{c.Filetype}
			}
			pw, _ := mw.CreatePart(hdr)
			pw.Write(readTestdata(t, c.File))
			mw.Close()
			resp, err := http.Post(ts.URL+"/api/v1/images", mw.FormDataContentType(), &buf)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			checkRejected(t, resp, body.Bytes(), c.Status, c.Code)
		})
	}
	if tmp := files(t, filepath.Join(ts.Data, "tmp")); len(tmp) != 0 {
		t.Errorf("temp files left: %v", tmp)
	}
	if imgs := files(t, filepath.Join(ts.Data, "images")); len(imgs) != 0 {
		t.Errorf("rejected files published: %v", imgs)
	}
}
