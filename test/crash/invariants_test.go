package crash_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	reSHA      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	reUploadID = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// imagePath is where the content store keeps the bytes of sha.
func imagePath(data, sha string) string {
	return filepath.Join(data, "images", sha[0:2], sha[2:4], sha)
}

// imageRecord is the part of an image record the checks look at.
type imageRecord struct {
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	Type     string `json:"type"`
	UploadID string `json:"upload_id"`
	URL      string `json:"url"`
}

// checkInvariants asserts what must hold in a data directory after startup
// recovery, whatever crashed before:
//
//   - under images/: every <sha> file hashes to its name and has a parseable
//     <sha>.json whose sha256 and size match; no record without its bytes; no
//     temp file in a shard directory or in images/.tmp;
//   - under uploads/: nothing but <id>.outcome files (valid JSON), the
//     .running marker and live sessions, each with its data file and .info
//     (and at most a .hash); no session that has both an outcome and data.
//
// It returns the number of images found.
func checkInvariants(t testing.TB, data string) int {
	t.Helper()
	errs := invariantErrors(data)
	for _, e := range errs {
		t.Errorf("invariant: %s", e)
	}
	n := 0
	_ = filepath.WalkDir(filepath.Join(data, "images"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && reSHA.MatchString(d.Name()) {
			n++
		}
		return nil
	})
	return n
}

// waitInvariants retries the check for up to timeout (for state the janitor
// converges to) and then reports what still fails.
func waitInvariants(t testing.TB, data string, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && len(invariantErrors(data)) > 0 {
		time.Sleep(100 * time.Millisecond)
	}
	return checkInvariants(t, data)
}

func invariantErrors(data string) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	images := filepath.Join(data, "images")
	blobs := map[string]string{}   // sha -> path
	records := map[string]string{} // sha -> path
	err := filepath.WalkDir(images, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			bad("walk %s: %v", p, err)
			return nil
		}
		rel, _ := filepath.Rel(images, p)
		if d.IsDir() {
			return nil
		}
		name := d.Name()
		switch {
		case strings.HasPrefix(rel, ".tmp"+string(filepath.Separator)):
			bad("temp file left in images/.tmp: %s", rel)
		case reSHA.MatchString(name):
			blobs[name] = p
		case strings.HasSuffix(name, ".json") && reSHA.MatchString(strings.TrimSuffix(name, ".json")):
			records[strings.TrimSuffix(name, ".json")] = p
		default:
			bad("unexpected file under images/: %s", rel)
		}
		return nil
	})
	if err != nil {
		bad("walk images: %v", err)
	}
	for sha, p := range blobs {
		want := filepath.Join(images, sha[0:2], sha[2:4], sha)
		if p != want {
			bad("image %s stored at %s, not in its shard", sha, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			bad("read image %s: %v", sha, err)
			continue
		}
		if got := sha256Hex(b); got != sha {
			bad("image %s: its %d bytes hash to %s", sha, len(b), got)
		}
		rp, ok := records[sha]
		if !ok {
			bad("image %s has no record (orphan bytes)", sha)
			continue
		}
		rb, err := os.ReadFile(rp)
		if err != nil {
			bad("read record %s: %v", sha, err)
			continue
		}
		var rec imageRecord
		if err := json.Unmarshal(rb, &rec); err != nil {
			bad("record %s does not parse: %v", sha, err)
			continue
		}
		if rec.SHA256 != sha || rec.Size != int64(len(b)) {
			bad("record %s says sha256=%s size=%d; bytes file has %d bytes", sha, rec.SHA256, rec.Size, len(b))
		}
	}
	for sha := range records {
		if _, ok := blobs[sha]; !ok {
			bad("record %s has no bytes", sha)
		}
	}

	uploads := filepath.Join(data, "uploads")
	entries, err := os.ReadDir(uploads)
	if err != nil {
		bad("read uploads: %v", err)
		return errs
	}
	type session struct{ data, info, hash, outcome bool }
	sessions := map[string]*session{}
	get := func(id string) *session {
		if sessions[id] == nil {
			sessions[id] = &session{}
		}
		return sessions[id]
	}
	for _, e := range entries {
		name := e.Name()
		id, ext, _ := strings.Cut(name, ".")
		switch {
		case name == ".running":
		case e.IsDir():
			bad("unexpected directory uploads/%s", name)
		case !reUploadID.MatchString(id):
			bad("unexpected file uploads/%s", name)
		case ext == "":
			get(id).data = true
		case ext == "info":
			get(id).info = true
		case ext == "hash":
			get(id).hash = true
		case ext == "outcome":
			get(id).outcome = true
			b, err := os.ReadFile(filepath.Join(uploads, name))
			var o map[string]any
			if err == nil {
				err = json.Unmarshal(b, &o)
			}
			if err != nil {
				bad("outcome %s is corrupt: %v", name, err)
			} else if o["upload_id"] != id {
				bad("outcome %s names upload %v", name, o["upload_id"])
			}
		default:
			bad("unexpected file uploads/%s", name)
		}
	}
	for id, s := range sessions {
		live := s.data || s.info || s.hash
		switch {
		case s.outcome && live:
			bad("upload %s ended (outcome) but still has files: data=%v info=%v hash=%v", id, s.data, s.info, s.hash)
		case live && !(s.data && s.info):
			bad("upload %s is incomplete: data=%v info=%v hash=%v", id, s.data, s.info, s.hash)
		}
	}
	return errs
}

// uploadFiles lists the files of the upload area by kind.
type uploadFiles struct {
	data, info, hash, outcome, outcomeTmp, other []string
}

func listUploads(t testing.TB, data string) uploadFiles {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(data, "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	var u uploadFiles
	for _, e := range entries {
		name := e.Name()
		id, ext, _ := strings.Cut(name, ".")
		switch {
		case name == ".running":
		case !reUploadID.MatchString(id):
			u.other = append(u.other, name)
		case ext == "":
			u.data = append(u.data, id)
		case ext == "info":
			u.info = append(u.info, id)
		case ext == "hash":
			u.hash = append(u.hash, id)
		case ext == "outcome":
			u.outcome = append(u.outcome, id)
		case ext == "outcome.tmp":
			u.outcomeTmp = append(u.outcomeTmp, id)
		default:
			u.other = append(u.other, name)
		}
	}
	return u
}

// noisePNG returns a valid w x h RGBA PNG of random pixels, stored without
// compression, so its size is about 4*w*h and depends only on w and h.
func noisePNG(t testing.TB, w, h int, seed uint64) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, 0x637261736874))
	for i := 0; i < len(img.Pix); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(img.Pix); j++ {
			img.Pix[i+j] = byte(v >> (8 * j))
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	if err := enc.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertStoredImage asserts that the published file for src exists and holds
// exactly src.
func assertStoredImage(t testing.TB, data string, src []byte) string {
	t.Helper()
	sha := sha256Hex(src)
	b, err := os.ReadFile(imagePath(data, sha))
	if err != nil {
		t.Fatalf("published image: %v", err)
	}
	if got := sha256Hex(b); got != sha || !bytes.Equal(b, src) {
		t.Fatalf("published image %s: %d bytes hashing to %s, source has %d bytes", sha, len(b), got, len(src))
	}
	if _, err := os.Stat(imagePath(data, sha) + ".json"); err != nil {
		t.Fatalf("published image record: %v", err)
	}
	return sha
}

func jsonValid(b []byte) bool { return json.Valid(b) }
