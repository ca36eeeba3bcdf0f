package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/config"
)

type record struct {
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	Type     string `json:"type"`
	Ext      string `json:"ext"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Frames   int    `json:"frames"`
	Filename string `json:"filename"`
	UploadID string `json:"upload_id"`
	URL      string `json:"url"`
}

func postRaw(t *testing.T, url string, ctype string, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}

// TestOneShotAndDedupe publishes the same bytes through the one-shot API and
// through tus: one stored file, one record, both answers name the same hash.
func TestOneShotAndDedupe(t *testing.T) {
	ts := testserver.Start(t, nil)
	img := readTestdata(t, "ok.jpg")
	resp, body := postRaw(t, ts.URL+"/api/v1/images?filename=../../evil/photo.jpg", "image/jpeg", img)
	if resp.StatusCode != 201 {
		t.Fatalf("one-shot: %d %s", resp.StatusCode, body)
	}
	var rec record
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.SHA256 != sha(img) || rec.Type != "image/jpeg" || rec.Ext != "jpg" || rec.Width == 0 || rec.Frames != 1 ||
		rec.Filename != "photo.jpg" || rec.URL != "/i/"+sha(img)+".jpg" || rec.Size != int64(len(img)) {
		t.Fatalf("record: %+v", rec)
	}
	url := create(t, ts, len(img), metadata("filename", "again.jpg"))
	resp, _ = patch(t, url, 0, img)
	if resp.StatusCode != 204 || resp.Header.Get("Image-Sha256") != rec.SHA256 {
		t.Fatalf("tus upload of the same bytes: %d %q", resp.StatusCode, resp.Header.Get("Image-Sha256"))
	}
	stored := files(t, filepath.Join(ts.Data, "images"))
	if len(stored) != 2 { // the bytes and their record, once
		t.Fatalf("images/ holds %v, want one image and one record", stored)
	}
	resp, body = get(t, ts.URL+"/api/v1/images/"+rec.SHA256)
	var again record
	if resp.StatusCode != 200 || json.Unmarshal(body, &again) != nil || again.Filename != "photo.jpg" {
		t.Fatalf("GET record: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, ts.URL+"/api/v1/images/"+strings.Repeat("0", 64)); resp.StatusCode != 404 {
		t.Errorf("unknown record: %d", resp.StatusCode)
	}
	if resp, _ := get(t, ts.URL+"/api/v1/images/NOTAHASH"); resp.StatusCode != 400 {
		t.Errorf("malformed record id: %d", resp.StatusCode)
	}
}

// TestListImagesPagination pages through the gallery newest first.
func TestListImagesPagination(t *testing.T) {
	ts := testserver.Start(t, nil)
	var want []string
	for _, f := range []string{"ok.png", "ok.jpg", "ok.gif", "ok.webp"} {
		resp, body := postRaw(t, ts.URL+"/api/v1/images?filename="+f, "application/octet-stream", readTestdata(t, f))
		if resp.StatusCode != 201 {
			t.Fatalf("%s: %d %s", f, resp.StatusCode, body)
		}
		want = append([]string{sha(readTestdata(t, f))}, want...)
		time.Sleep(5 * time.Millisecond) // distinct upload times
	}
	var got []string
	next := ""
	for page := 0; page < 3; page++ {
		_, body := get(t, ts.URL+"/api/v1/images?limit=3&before="+next)
		var l struct {
			Images []record `json:"images"`
			Next   string   `json:"next"`
		}
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatal(err)
		}
		for _, r := range l.Images {
			got = append(got, r.SHA256)
		}
		if next = l.Next; next == "" {
			break
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("listing %v, want newest first %v", got, want)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "before=zz"} {
		if resp, _ := get(t, ts.URL+"/api/v1/images?"+q); resp.StatusCode != 400 {
			t.Errorf("?%s: %d, want 400", q, resp.StatusCode)
		}
	}
}

// TestUploadStatusAndExpiry follows a session through pending, in_progress,
// and expired (janitor), and checks expired uploads answer 410.
func TestUploadStatusAndExpiry(t *testing.T) {
	ts := testserver.Start(t, func(c *config.Config) {
		c.UploadTTL = time.Second
		c.JanitorInterval = 100 * time.Millisecond
	})
	img := readTestdata(t, "ok.png")
	url := create(t, ts, len(img), "")
	id := url[strings.LastIndex(url, "/")+1:]
	state := func() string {
		_, body := get(t, ts.URL+"/api/v1/uploads/"+id)
		var st struct {
			State string `json:"state"`
		}
		json.Unmarshal(body, &st)
		return st.State
	}
	if s := state(); s != "pending" {
		t.Fatalf("new upload state %q", s)
	}
	patch(t, url, 0, img[:10])
	if s := state(); s != "in_progress" {
		t.Fatalf("state after a chunk %q", s)
	}
	deadline := time.Now().Add(10 * time.Second)
	for state() != "expired" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if s := state(); s != "expired" {
		t.Fatalf("state after TTL %q, want expired", s)
	}
	if resp, _ := tusReq(t, "HEAD", url, nil, nil); resp.StatusCode != 410 {
		t.Errorf("HEAD expired: %d", resp.StatusCode)
	}
	if resp, _ := patch(t, url, 10, img[10:]); resp.StatusCode != 410 {
		t.Errorf("PATCH expired: %d", resp.StatusCode)
	}
	if data, _ := uploadFiles(t, ts); len(data) != 0 {
		t.Errorf("expired bytes left: %v", data)
	}
	if resp, _ := get(t, ts.URL+"/api/v1/uploads/ffffffffffffffffffffffffffffffff"); resp.StatusCode != 404 {
		t.Errorf("unknown upload status: %d", resp.StatusCode)
	}
}

// TestInternalErrorDoesNotLeak breaks the image store (a file where a shard
// directory must go) and checks the client sees a generic 500 with a request
// id, no path or OS error text, and the upload can still be finished later.
func TestInternalErrorDoesNotLeak(t *testing.T) {
	ts := testserver.Start(t, nil)
	img := readTestdata(t, "ok.png")
	blocker := filepath.Join(ts.Data, "images", sha(img)[:2])
	if err := os.WriteFile(blocker, []byte("in the way"), 0o640); err != nil {
		t.Fatal(err)
	}
	url := create(t, ts, len(img), metadata("filename", "a.png"))
	resp, body := patch(t, url, 0, img)
	if resp.StatusCode != 500 {
		t.Fatalf("status %d, want 500; %s", resp.StatusCode, body)
	}
	code, msg := apiError(t, body)
	if code != "internal_error" || strings.Contains(string(body), ts.Data) || strings.Contains(string(body), "directory") {
		t.Fatalf("leaky error body: %s (%s: %s)", body, code, msg)
	}
	if !strings.Contains(string(body), resp.Header.Get("X-Request-ID")) || resp.Header.Get("X-Request-ID") == "" {
		t.Errorf("error body lacks the request id %q: %s", resp.Header.Get("X-Request-ID"), body)
	}
	resp, body = postRaw(t, ts.URL+"/api/v1/images", "image/png", img)
	if resp.StatusCode != 500 || strings.Contains(string(body), ts.Data) {
		t.Fatalf("one-shot: %d %s", resp.StatusCode, body)
	}
	if data, _ := uploadFiles(t, ts); len(data) == 0 {
		t.Fatal("a server-side failure must not delete the uploaded bytes")
	}
	os.Remove(blocker)
	// The janitor finishes it once the store works again; here we restart.
	ts.Stop(t)
	ts2 := testserver.Start(t, func(c *config.Config) { c.Data = ts.Data })
	resp, _ = tusReq(t, "HEAD", url2(ts2, url), nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Image-Sha256") != sha(img) {
		t.Fatalf("after restart the upload should be published: %d %v", resp.StatusCode, resp.Header)
	}
}

// url2 points an upload URL of one server at another.
func url2(ts *testserver.TS, url string) string {
	return ts.URL + "/files/" + url[strings.LastIndex(url, "/")+1:]
}

// TestConfigAndHealth checks the small endpoints.
func TestConfigAndHealth(t *testing.T) {
	ts := testserver.Start(t, func(c *config.Config) { c.AllowedTypes = "image/png,image/jpeg" })
	resp, body := get(t, ts.URL+"/api/v1/config")
	var pc struct {
		MaxSize      int64    `json:"max_size"`
		AllowedTypes []string `json:"allowed_types"`
		Exts         []string `json:"allowed_extensions"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &pc) != nil || pc.MaxSize != 50<<20 ||
		len(pc.AllowedTypes) != 2 || !strings.Contains(strings.Join(pc.Exts, ","), ".jpeg") {
		t.Fatalf("config: %d %s", resp.StatusCode, body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp, body := get(t, ts.URL+p); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	if resp, _ := get(t, ts.URL+"/"); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	gif := readTestdata(t, "ok.gif")
	if resp, body := postRaw(t, ts.URL+"/api/v1/images", "image/gif", gif); resp.StatusCode != 415 {
		t.Errorf("gif with gif disallowed: %d %s", resp.StatusCode, body)
	}
	_ = strconv.Itoa
}
