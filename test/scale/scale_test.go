package scale_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testfiles"
	"github.com/tusimg/tusimg/internal/tustest"
)

// TestUploadAcrossInstances creates an upload on A, sends its chunks to A
// and B in turn, finishes on B, and reads the image from both.
func TestUploadAcrossInstances(t *testing.T) {
	c := newCluster(t)
	a, b := c.start(t), c.start(t)
	img := noisePNG(t, 1800, 1800, 1) // ~13 MB: three 5 MiB parts and a tail
	id := create(t, a, len(img))
	const part = 5 << 20
	for i, off := 0, 0; off < len(img); i++ {
		end := min(off+part, len(img))
		in := a
		if i%2 == 1 {
			in = b
		}
		resp, body := patch(t, in, id, off, img[off:end])
		if resp.StatusCode != 204 {
			t.Fatalf("chunk %d on %s: %d %s", i, in.URL, resp.StatusCode, body)
		}
		if end == len(img) && resp.Header.Get("Image-Sha256") != sum(img) {
			t.Fatalf("final chunk: Image-Sha256 %q, want %s", resp.Header.Get("Image-Sha256"), sum(img))
		}
		if code, got := offset(t, map[bool]*instance{true: b, false: a}[i%2 == 0], id); code != 200 || got != end {
			t.Fatalf("HEAD on the other instance after chunk %d: %d offset %d, want %d", i, code, got, end)
		}
		off = end
	}
	for _, in := range []*instance{a, b} {
		code, got := get(t, in.URL+"/i/"+sum(img)+".png")
		if code != 200 || !bytes.Equal(got, img) {
			t.Fatalf("GET from %s: %d, %d bytes", in.URL, code, len(got))
		}
		resp, _ := do(t, "HEAD", in.URL+"/files/"+id, nil, nil, 0)
		if resp.Header.Get("Image-Sha256") != sum(img) {
			t.Errorf("HEAD on %s after finishing: %d %v", in.URL, resp.StatusCode, resp.Header)
		}
	}
}

// slowReader yields b slowly: n bytes, then a pause.
type slowReader struct {
	b     []byte
	n     int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.pause)
	k := copy(p[:min(len(p), s.n)], s.b)
	s.b = s.b[k:]
	return k, nil
}

// TestConcurrentPatchAcrossInstances: while A receives a PATCH, a PATCH of
// other bytes to the same upload on B is refused (423 after the lock
// timeout, the holder is busy), and the stored image is A's bytes only.
func TestConcurrentPatchAcrossInstances(t *testing.T) {
	c := newCluster(t)
	a, b := c.start(t), c.start(t)
	img := noisePNG(t, 600, 600, 2)
	other := noisePNG(t, 600, 600, 3)
	id := create(t, a, len(img))
	done := make(chan int, 1)
	go func() {
		resp, _ := do(t, "PATCH", a.URL+"/files/"+id, map[string]string{"Upload-Offset": "0",
			"Content-Type": "application/offset+octet-stream"}, &slowReader{b: img, n: 64 << 10, pause: 50 * time.Millisecond}, int64(len(img)))
		done <- resp.StatusCode
	}()
	time.Sleep(500 * time.Millisecond)
	resp, body := patch(t, b, id, 0, other)
	if resp.StatusCode != 423 && resp.StatusCode != 409 {
		t.Fatalf("competing PATCH on B: %d %s, want 423 or 409", resp.StatusCode, body)
	}
	if code := <-done; code != 204 {
		t.Fatalf("PATCH on A: %d", code)
	}
	if code, got := get(t, b.URL+"/i/"+sum(img)); code != 200 || !bytes.Equal(got, img) {
		t.Fatalf("stored image is not A's bytes: %d", code)
	}
}

// TestCrashedInstanceLockExpires kills A with SIGKILL while it holds an
// upload's lock (a PATCH in flight); B gets the lock once it expires and
// the upload is resumed and finished on B.
func TestCrashedInstanceLockExpires(t *testing.T) {
	c := newCluster(t)
	a, b := c.start(t), c.start(t)
	img := noisePNG(t, 1700, 1700, 4) // ~11.6 MB
	id := create(t, a, len(img))
	go func() {
		req := &slowReader{b: img, n: 256 << 10, pause: 30 * time.Millisecond}
		// the request fails when A dies; its error is expected
		defer func() { _ = recover() }()
		_, _ = patchNoFail(a, id, req, len(img))
	}()
	time.Sleep(1500 * time.Millisecond) // > 5 MiB sent: at least one part in S3
	a.kill()
	start := time.Now()
	var code, off int
	for time.Since(start) < 20*time.Second {
		if code, off = offset(t, b, id); code == 200 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("B answered HEAD %d (offset %d) %s after A was killed", code, off, time.Since(start).Round(time.Millisecond))
	if code != 200 {
		t.Fatalf("B could not take over the upload: HEAD %d", code)
	}
	resp, body := patch(t, b, id, off, img[off:])
	if resp.StatusCode != 204 || resp.Header.Get("Image-Sha256") != sum(img) {
		t.Fatalf("finish on B from %d: %d %s", off, resp.StatusCode, body)
	}
	if code, got := get(t, b.URL+"/i/"+sum(img)); code != 200 || !bytes.Equal(got, img) {
		t.Fatalf("image after takeover: %d", code)
	}
}

func patchNoFail(in *instance, id string, body io.Reader, size int) (int, error) {
	resp, err := tustest.PatchStream(in.URL+"/files/"+id, 0, body, size)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestHostileFilesS3 runs the hostile-file table against an S3 instance.
func TestHostileFilesS3(t *testing.T) {
	c := newCluster(t)
	a := c.start(t)
	for _, hc := range testfiles.Hostile {
		t.Run(hc.Name(), func(t *testing.T) {
			data := testfiles.Read(t, hc.File)
			var meta []string
			if hc.Filename != "" {
				meta = append(meta, "filename "+base64.StdEncoding.EncodeToString([]byte(hc.Filename)))
			}
			if hc.Filetype != "" {
				meta = append(meta, "filetype "+base64.StdEncoding.EncodeToString([]byte(hc.Filetype)))
			}
			resp, body := do(t, "POST", a.URL+"/files/", map[string]string{"Upload-Length": strconv.Itoa(len(data)),
				"Upload-Metadata": strings.Join(meta, ",")}, nil, 0)
			if resp.StatusCode == 201 && len(data) > 0 {
				loc := resp.Header.Get("Location")
				id := loc[strings.Index(loc, "/files/")+len("/files/"):]
				resp, body = patch(t, a, id, 0, data)
				if code, _ := offset(t, a, id); code != 410 {
					t.Errorf("HEAD after rejection: %d, want 410", code)
				}
			}
			if resp.StatusCode != hc.Status || !strings.Contains(string(body), `"code":"`+hc.Code+`"`) {
				t.Fatalf("status %d %s, want %d %s", resp.StatusCode, body, hc.Status, hc.Code)
			}
		})
	}
	if code, body := get(t, a.URL+"/api/v1/images"); code != 200 || !strings.Contains(string(body), `"images": []`) {
		t.Errorf("rejected files were published: %s", body)
	}
}
