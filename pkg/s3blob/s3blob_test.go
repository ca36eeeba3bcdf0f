package s3blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tusimg/tusimg/internal/s3test"
)

func randomData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return b
}

func put(t testing.TB, srv *s3test.Server, key string, data []byte) {
	t.Helper()
	_, err := srv.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(srv.Bucket),
		Key: aws.String(key), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func get(t testing.TB, srv *s3test.Server, key string) []byte {
	t.Helper()
	body, err := OpenRange(context.Background(), srv.Client, srv.Bucket, key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOptions(t *testing.T) {
	for _, tt := range []struct {
		o     Options
		ok    bool
		name  string
		wantK string
	}{
		{Options{Bucket: "b"}, true, "x/y", "x/y"},
		{Options{Bucket: "b", Prefix: "p"}, true, "x", "p/x"},
		{Options{Bucket: "b", Prefix: "p/"}, true, "x", "p/x"},
		{Options{Bucket: "b", Prefix: "a/b//"}, true, "x", "a/b/x"},
		{Options{}, false, "", ""},
		{Options{Bucket: "b", Prefix: "/p"}, false, "", ""},
		{Options{Bucket: "b", Endpoint: "127.0.0.1:9000"}, false, "", ""},
		{Options{Bucket: "b", Endpoint: "https://s3.example"}, true, "", ""},
	} {
		if err := tt.o.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: Validate() = %v", tt.o, err)
		}
		if tt.ok && tt.name != "" {
			if got := tt.o.Key(tt.name); got != tt.wantK {
				t.Errorf("%+v: Key(%q) = %q, want %q", tt.o, tt.name, got, tt.wantK)
			}
		}
	}
}

// TestNewClientFromEnv builds a client from the standard AWS environment
// (and nothing else: no shared files, no instance metadata) and uses it.
func TestNewClientFromEnv(t *testing.T) {
	srv := s3test.Start(t)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey, "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
	} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	if _, err := NewClient(ctx, Options{Endpoint: srv.Endpoint}); err == nil {
		t.Error("NewClient without a bucket succeeded")
	}
	client, err := NewClient(ctx, Options{Bucket: srv.Bucket, Endpoint: srv.Endpoint, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := client.Options().Region; r != DefaultRegion {
		t.Errorf("region %q, want %q", r, DefaultRegion)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("k"),
		Body: strings.NewReader("v")})
	if err != nil {
		t.Fatalf("put with env credentials: %v", err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	bad, err := NewClient(ctx, Options{Bucket: srv.Bucket, Endpoint: srv.Endpoint, PathStyle: true, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(srv.Bucket)}); err == nil {
		t.Error("a wrong secret was accepted")
	}
}

// TestErrorClassification checks IsNotFound and IsPreconditionFailed on the
// errors a real server returns.
func TestErrorClassification(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	b := aws.String(srv.Bucket)
	put(t, srv, "exists", []byte("x"))
	_, errHead := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("missing")})
	_, errGet := srv.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("missing")})
	_, errBucket := srv.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("no-bucket"), Key: aws.String("k")})
	_, errCond := srv.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("exists"),
		Body: strings.NewReader("y"), IfNoneMatch: aws.String("*")})
	_, errCondNew := srv.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("new"),
		Body: strings.NewReader("y"), IfNoneMatch: aws.String("*")})
	if errCondNew != nil {
		t.Fatalf("conditional put of a new key: %v", errCondNew)
	}
	for _, tt := range []struct {
		name           string
		err            error
		notFound, cond bool
	}{
		{"head missing", errHead, true, false},
		{"get missing", errGet, true, false},
		{"missing bucket", errBucket, false, false},
		{"if-none-match on existing", errCond, false, true},
		{"nil", nil, false, false},
		{"plain", errors.New("boom"), false, false},
	} {
		if got := IsNotFound(tt.err); got != tt.notFound {
			t.Errorf("%s: IsNotFound(%v) = %v", tt.name, tt.err, got)
		}
		if got := IsPreconditionFailed(tt.err); got != tt.cond {
			t.Errorf("%s: IsPreconditionFailed(%v) = %v", tt.name, tt.err, got)
		}
	}
	if string(get(t, srv, "exists")) != "x" {
		t.Error("a conditional put overwrote an existing object")
	}
}

const testBlock = 256 << 10

// TestReaderAt reads through the block cache and counts the GETs.
func TestReaderAt(t *testing.T) {
	srv := s3test.Start(t)
	data := randomData(3<<20 + 1234)
	put(t, srv, "big", data)
	newRA := func() *ReaderAt {
		return NewReaderAt(context.Background(), srv.Client, srv.Bucket, "big", int64(len(data)),
			ReaderAtOptions{BlockSize: testBlock, Blocks: 3})
	}
	const block = testBlock
	tests := []struct {
		name  string
		reads [][2]int64 // off, len
		gets  int64
	}{
		{"header reads in one block", [][2]int64{{0, 16}, {16, 100}, {8, 8}, {200000, 300}}, 1},
		{"across a boundary", [][2]int64{{block - 10, 20}}, 2},
		{"cache holds three blocks", [][2]int64{{0, 1}, {block, 1}, {2 * block, 1}, {0, 1}, {block, 1}}, 3},
		{"evicts least recent", [][2]int64{{0, 1}, {block, 1}, {2 * block, 1}, {3 * block, 1}, {0, 1}}, 5},
		{"large read bypasses cache", [][2]int64{{100, 3 * block}}, 1},
		{"tail", [][2]int64{{int64(len(data)) - 5, 5}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ra := newRA()
			for _, rd := range tt.reads {
				p := make([]byte, rd[1])
				want := data[rd[0] : rd[0]+rd[1]]
				if n, err := ra.ReadAt(p, rd[0]); err != nil || n != len(p) || !bytes.Equal(p, want) {
					t.Fatalf("ReadAt(%d, %d) = %d, %v (bytes equal: %v)", rd[0], rd[1], n, err, bytes.Equal(p, want))
				}
			}
			if got := ra.Requests(); got != tt.gets {
				t.Errorf("%d GETs, want %d", got, tt.gets)
			}
		})
	}
	t.Run("sequential scan", func(t *testing.T) { testReaderAtScan(t, newRA, data) })
	t.Run("edges", func(t *testing.T) { testReaderAtEdges(t, srv, newRA(), data) })
	t.Run("concurrent", func(t *testing.T) { testReaderAtConcurrent(t, newRA(), data) })
}

func testReaderAtScan(t *testing.T, newRA func() *ReaderAt, data []byte) {
	ra := newRA()
	var out bytes.Buffer // a decoder's small reads: 4 KiB at a time
	_, err := io.CopyBuffer(struct{ io.Writer }{&out}, io.NewSectionReader(ra, 0, ra.Size()), make([]byte, 4096))
	if err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("scan: %d bytes, %v", out.Len(), err)
	}
	blocks := int64((len(data) + testBlock - 1) / testBlock)
	if ra.Requests() != blocks {
		t.Errorf("%d GETs, want %d (one per block)", ra.Requests(), blocks)
	}
	ra = newRA()
	if got, err := io.ReadAll(io.NewSectionReader(ra, 0, ra.Size())); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll: %d bytes, %v", len(got), err)
	}
	if ra.Requests() > blocks {
		t.Errorf("ReadAll: %d GETs, want at most %d", ra.Requests(), blocks)
	}
}

func testReaderAtEdges(t *testing.T, srv *s3test.Server, ra *ReaderAt, data []byte) {
	p := make([]byte, 10)
	if n, err := ra.ReadAt(p, int64(len(data))-4); n != 4 || err != io.EOF || !bytes.Equal(p[:4], data[len(data)-4:]) {
		t.Errorf("short tail read = %d, %v", n, err)
	}
	if n, err := ra.ReadAt(p, int64(len(data))); n != 0 || err != io.EOF {
		t.Errorf("read at size = %d, %v", n, err)
	}
	if _, err := ra.ReadAt(p, -1); err == nil || err == io.EOF {
		t.Errorf("negative offset: %v", err)
	}
	long := NewReaderAt(context.Background(), srv.Client, srv.Bucket, "big", int64(len(data))+10, ReaderAtOptions{})
	if _, err := long.ReadAt(make([]byte, 20), int64(len(data))-5); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read past the real end: %v", err)
	}
}

func testReaderAtConcurrent(t *testing.T, ra *ReaderAt, data []byte) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 50 {
				off := r.Int64N(int64(len(data)))
				p := make([]byte, min(r.Int64N(64<<10), int64(len(data))-off))
				if _, err := ra.ReadAt(p, off); err != nil && err != io.EOF || !bytes.Equal(p, data[off:off+int64(len(p))]) {
					t.Errorf("ReadAt(%d, %d): %v", off, len(p), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestOpenRange(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	data := randomData(1000)
	put(t, srv, "obj", data)
	put(t, srv, "empty", nil)
	for _, tt := range []struct {
		key    string
		off, n int64
		want   []byte
	}{
		{"obj", 0, -1, data}, {"obj", 10, 5, data[10:15]}, {"obj", 990, -1, data[990:]},
		{"obj", 5, 0, []byte{}}, {"empty", 0, -1, []byte{}},
	} {
		body, err := OpenRange(ctx, srv.Client, srv.Bucket, tt.key, tt.off, tt.n)
		if err != nil {
			t.Fatalf("OpenRange(%s, %d, %d): %v", tt.key, tt.off, tt.n, err)
		}
		got, err := io.ReadAll(body)
		body.Close()
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("OpenRange(%s, %d, %d) = %d bytes, %v", tt.key, tt.off, tt.n, len(got), err)
		}
	}
	if _, err := OpenRange(ctx, srv.Client, srv.Bucket, "missing", 0, -1); !IsNotFound(err) {
		t.Errorf("missing: %v", err)
	}
}

// TestTransfer uploads and copies in one request and in parts.
func TestTransfer(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	small := Transfer{Threshold: 6 << 20, PartSize: 5 << 20, Concurrency: 2, CopyThreshold: 6 << 20}
	po := PutOptions{ContentType: "image/gif", CacheControl: "no-store"}
	for _, tt := range []struct {
		name string
		size int
		tr   Transfer
	}{
		{"single", 100 << 10, Transfer{}},
		{"parts", 11<<20 + 3, small},
		{"empty", 0, Transfer{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := randomData(tt.size)
			path := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			up, cp := "up/"+tt.name+" ä", "copy/"+tt.name+" +ü" // keys that need escaping
			if err := tt.tr.UploadFile(ctx, srv.Client, srv.Bucket, up, path, int64(tt.size), po); err != nil {
				t.Fatalf("UploadFile: %v", err)
			}
			if err := tt.tr.Copy(ctx, srv.Client, srv.Bucket, up, srv.Bucket, cp, int64(tt.size), po); err != nil {
				t.Fatalf("Copy: %v", err)
			}
			for _, key := range []string{up, cp} {
				if !bytes.Equal(get(t, srv, key), data) {
					t.Errorf("%s: bytes differ", key)
				}
				h, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)})
				if err != nil || aws.ToString(h.ContentType) != po.ContentType || aws.ToString(h.CacheControl) != po.CacheControl {
					t.Errorf("%s: metadata %v", key, err)
				}
			}
		})
	}
	t.Run("failed parts are aborted", func(t *testing.T) {
		err := small.Copy(ctx, srv.Client, srv.Bucket, "missing", srv.Bucket, "dst", 12<<20, po)
		if err == nil {
			t.Fatal("copy of a missing source succeeded")
		}
		out, err := srv.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
		if err != nil || len(out.Uploads) != 0 {
			t.Errorf("multipart uploads left: %v, %v", out, err)
		}
	})
}

func TestPartSize(t *testing.T) {
	tr := Transfer{}.withDefaults()
	if got := tr.partSize(1 << 30); got != DefaultPartSize {
		t.Errorf("1 GiB: part size %d", got)
	}
	big := int64(200) << 30
	if got := tr.partSize(big); got*MaxParts < big {
		t.Errorf("200 GiB: part size %d needs more than %d parts", got, MaxParts)
	}
	if got := (Transfer{PartSize: 1}).withDefaults().PartSize; got != MinPartSize {
		t.Errorf("tiny part size raised to %d, want %d", got, MinPartSize)
	}
}
