package crash_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of the given size (e.g. "8m") on a new directory
// and unmounts it when the test ends. It skips the test when mounting is not
// permitted (not root, or a container without CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("disk-full test needs `mount -t tmpfs` (root with CAP_SYS_ADMIN), which failed here: %v: %s",
			err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s; trying lazy unmount", dir, err, out)
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// freeBytes is the space left on the file system holding dir.
func freeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// fill writes a file at path until the file system is full or n bytes were
// written (n < 0: until full). It returns how many bytes it wrote.
func fill(t testing.TB, path string, n int64) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var written int64
	for n < 0 || written < n {
		k := len(buf)
		if n >= 0 {
			k = int(min(int64(k), n-written))
		}
		m, err := f.Write(buf[:k])
		written += int64(m)
		if errors.Is(err, syscall.ENOSPC) {
			// one small write more may still fit the last page
			for {
				m, err := f.Write(buf[:1])
				written += int64(m)
				if err != nil {
					break
				}
			}
			return written
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return written
}

// assertCleanStorageError checks a failed request's answer: 507 with code
// insufficient_storage, or 500, with a JSON error body that leaks no path or
// OS error text.
func assertCleanStorageError(t testing.TB, what string, r tusResp, data string) {
	t.Helper()
	if r.Status != http.StatusInsufficientStorage && r.Status != http.StatusInternalServerError {
		t.Errorf("%s: %s, want 507 (or 500)", what, r)
		return
	}
	var body struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Errorf("%s: %d with a body that is not our JSON error: %q", what, r.Status, r.Body)
		return
	}
	if r.Status == http.StatusInsufficientStorage && body.Error.Code != "insufficient_storage" {
		t.Errorf("%s: 507 with code %q, want insufficient_storage", what, body.Error.Code)
	}
	if body.Error.Message == "" {
		t.Errorf("%s: empty error message", what)
	}
	low := strings.ToLower(r.Body)
	for _, leak := range []string{"/", "no space", "enospc", "errno", "syscall", "tmpfs", strings.ToLower(data), ".info", ".hash"} {
		if strings.Contains(low, leak) {
			t.Errorf("%s: error body leaks %q: %s", what, leak, r.Body)
		}
	}
}

// TestDiskFull runs the server on an 8 MiB tmpfs. A PATCH that fills it fails
// with 507 and a clean JSON body; existing images are still served; once
// space is freed the same upload resumes and completes without a restart.
func TestDiskFull(t *testing.T) {
	mnt := mountTmpfs(t, "8m")
	data := filepath.Join(mnt, "data")
	p := startServer(t, data, serverOpts{})

	// An image published before the disk fills up.
	ok := readTestdata(t, "ok.png")
	_, r := p.mustCreate(int64(len(ok)), map[string]string{"filename": "ok.png"}, ok)
	if r.imageSHA() != sha256Hex(ok) {
		t.Fatalf("publish ok.png: %s", r)
	}

	// Leave about 1.5 MB, then upload 3 MB.
	filler := filepath.Join(mnt, "filler")
	fill(t, filler, freeBytes(t, mnt)-1536<<10)
	t.Logf("filler written; %d bytes free", freeBytes(t, mnt))
	big := noisePNG(t, 860, 900, 11) // ~3.1 MB
	id, _ := p.mustCreate(int64(len(big)), map[string]string{"filename": "big.png"}, nil)
	r = p.mustPatch(id, 0, big)
	t.Logf("PATCH of %d bytes on a full disk: %s", len(big), r)
	assertCleanStorageError(t, "PATCH on a full disk", r, data)

	// Creating an upload while the disk is full.
	fill(t, filler, -1)
	if _, cr, err := p.create(t.Context(), int64(len(ok)), nil, nil); err == nil {
		t.Errorf("POST /files/ on a full disk succeeded")
	} else {
		assertCleanStorageError(t, "POST /files/ on a full disk", cr, data)
	}

	// Still serving what exists, still healthy.
	p.mustServe(sha256Hex(ok), ok)
	if code, body, _ := p.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz on a full disk: %d %s", code, trunc(body))
	}
	h := p.head(id)
	if h.Status != http.StatusOK || h.Offset >= int64(len(big)) {
		t.Fatalf("HEAD after the failed PATCH: %s", h)
	}
	onDisk, _ := os.ReadFile(filepath.Join(data, "uploads", id))
	if int64(len(onDisk)) != h.Offset || !bytesPrefix(onDisk, big) {
		t.Fatalf("data file holds %d bytes (prefix of the source: %v), HEAD says %d", len(onDisk), bytesPrefix(onDisk, big), h.Offset)
	}
	t.Logf("upload stopped at offset %d of %d", h.Offset, len(big))

	// Space returns: the same upload resumes, no restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r = p.mustPatch(id, h.Offset, big[h.Offset:])
	if r.Status != http.StatusNoContent || r.imageSHA() != sha256Hex(big) {
		t.Fatalf("resumed PATCH after freeing space: %s", r)
	}
	p.mustServe(sha256Hex(big), big)

	// New uploads work again.
	small := noisePNG(t, 100, 100, 13)
	_, r = p.mustCreate(int64(len(small)), map[string]string{"filename": "small.png"}, small)
	if r.imageSHA() != sha256Hex(small) {
		t.Fatalf("new upload after freeing space: %s", r)
	}
	p.mustServe(sha256Hex(small), small)

	// The failed POST may have left files behind (see
	// TestDiskFullCreateLeavesNoFiles); a restart's recovery removes them.
	p.crash()
	p2 := startServer(t, data, serverOpts{})
	p2.mustServe(sha256Hex(big), big)
	if n := checkInvariants(t, data); n != 3 {
		t.Errorf("%d images, want 3", n)
	}
}

// TestDiskFullInPublish: the final PATCH of an upload fails in publish
// because the disk is full (the image record cannot be written): 507. The
// upload then has all its bytes, so HEAD reports offset == length, and tusd
// answers a retried PATCH at that offset 204 without calling pre-finish
// (tusd#1299). Once space returns the upload must still end up published and
// the client must get the Image-* headers: from a retried final PATCH, and
// from HEAD (what tus-js-client sends when it retries after a 5xx; seeing
// offset == length it reports success).
func TestDiskFullInPublish(t *testing.T) {
	mnt := mountTmpfs(t, "8m")
	data := filepath.Join(mnt, "data")
	p := startServer(t, data, serverOpts{args: []string{"--janitor-interval", "200ms"}})
	filler := filepath.Join(mnt, "filler")

	// Everything but the last byte is uploaded, the disk is filled to the
	// brim; the last byte still fits the data file's last page but the image
	// record does not.
	img := noisePNG(t, 500, 500, 12) // ~1 MB
	if len(img)%4096 == 1 {
		t.Fatal("pick another size: the last byte would need a new page")
	}
	sha := sha256Hex(img)
	id, _ := p.mustCreate(int64(len(img)), map[string]string{"filename": "img.png"}, nil)
	if r := p.mustPatch(id, 0, img[:len(img)-1]); r.Status != http.StatusNoContent {
		t.Fatalf("PATCH all but the last byte: %s", r)
	}
	fill(t, filler, -1)
	r := p.mustPatch(id, int64(len(img)-1), img[len(img)-1:])
	t.Logf("final PATCH with the disk full: %s", r)
	if r.Status == http.StatusNoContent {
		t.Fatalf("the final PATCH succeeded on a full disk (the record fit): scenario not reproduced")
	}
	assertCleanStorageError(t, "final PATCH on a full disk", r, data)
	if code, _, _ := p.get("/i/" + sha); code != http.StatusNotFound {
		t.Errorf("GET /i/{sha} of the unpublished image: %d, want 404", code)
	}
	if h := p.head(id); h.Offset == int64(len(img)) && h.imageSHA() == "" {
		t.Logf("while the disk is full, HEAD reports a complete upload without Image-Sha256: %s", h)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}

	// Space is back. A client that retries the final PATCH gets the image.
	r = p.mustPatch(id, int64(len(img)), nil)
	if r.Status != http.StatusNoContent || r.imageSHA() != sha {
		t.Errorf("retried final PATCH after freeing space: %s, want 204 with Image-Sha256 %s", r, sha)
	}
	// A client that resumes with HEAD (tus-js-client) must not see a
	// complete upload without its image.
	deadline := time.Now().Add(5 * time.Second)
	var h tusResp
	for {
		h = p.head(id)
		if h.imageSHA() != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if h.imageSHA() != sha {
		t.Errorf("HEAD after freeing space: %s, want Image-Sha256 %s (offset == length reads as success)", h, sha)
	}
	if code, _, _ := p.get("/i/" + sha); code != http.StatusOK {
		t.Errorf("GET /i/{sha} after freeing space: %d, want 200", code)
	}
}

// TestDiskFullCreateLeavesNoFiles: a POST /files/ that fails with 507
// because the .info file cannot be written must not leave files behind, or
// the janitor must remove them; they must not wait for a restart.
func TestDiskFullCreateLeavesNoFiles(t *testing.T) {
	mnt := mountTmpfs(t, "8m")
	data := filepath.Join(mnt, "data")
	p := startServer(t, data, serverOpts{args: []string{"--upload-ttl", "1s", "--janitor-interval", "200ms"}})
	filler := filepath.Join(mnt, "filler")
	fill(t, filler, -1)
	_, cr, err := p.create(t.Context(), 1000, map[string]string{"filename": "x.png"}, nil)
	if err == nil {
		t.Fatal("POST /files/ on a full disk succeeded: scenario not reproduced")
	}
	assertCleanStorageError(t, "POST /files/ on a full disk", cr, data)
	u := listUploads(t, data)
	t.Logf("upload area right after the failed POST: data %v, info %v", u.data, u.info)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// TTL 1s, sweeps every 200ms: well within 4s anything idle is gone.
	time.Sleep(4 * time.Second)
	u = listUploads(t, data)
	if len(u.data)+len(u.info)+len(u.hash) != 0 {
		t.Errorf("files of the failed POST still there after the janitor's sweeps: data %v, info %v, hash %v",
			u.data, u.info, u.hash)
	}
	checkInvariants(t, data)
	if h, err := p.tryHead(strings.Join(u.info, "")); err == nil && len(u.info) == 1 {
		t.Logf("HEAD of the leftover id: %s", h)
	}
}
