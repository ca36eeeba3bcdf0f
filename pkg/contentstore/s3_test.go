package contentstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tusimg/tusimg/internal/s3test"
	"github.com/tusimg/tusimg/pkg/s3blob"
)

// s3Env is an S3 store on a fresh versitygw, with a directory for source
// files and a count of the requests its client sent.
type s3Env struct {
	srv   *s3test.Server
	store *S3
	reqs  *reqCounter
	base  string
}

func newS3Env(t testing.TB, prefix string) *s3Env {
	t.Helper()
	srv := s3test.Start(t)
	return newS3EnvOn(t, srv, prefix)
}

// newS3EnvOn opens another store instance (own client, cache and counter)
// on a running server.
func newS3EnvOn(t testing.TB, srv *s3test.Server, prefix string) *s3Env {
	t.Helper()
	reqs := &reqCounter{next: http.DefaultTransport}
	client := srv.NewClient(func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: reqs} })
	store, err := NewS3(client, s3blob.Options{Bucket: srv.Bucket, Prefix: prefix, PathStyle: true}, testLog(t))
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	return &s3Env{srv: srv, store: store, reqs: reqs, base: t.TempDir()}
}

// reqCounter counts requests by method; image counts only GETs of image
// bytes (not records, markers or listings).
type reqCounter struct {
	next  http.RoundTripper
	mu    sync.Mutex
	all   map[string]int
	image int
}

func (c *reqCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.all == nil {
		c.all = map[string]int{}
	}
	c.all[r.Method]++
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/images/") && !strings.HasSuffix(r.URL.Path, ".json") {
		c.image++
	}
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// take returns and resets the counts.
func (c *reqCounter) take() (all map[string]int, imageGets int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	all, imageGets = c.all, c.image
	c.all, c.image = nil, 0
	return all, imageGets
}

func randomData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return b
}

// storeImpls are the Store implementations the contract tests run on.
var storeImpls = []struct {
	name string
	open func(t testing.TB) (Store, string)
}{
	{"fs", func(t testing.TB) (Store, string) { return testStore(t) }},
	{"s3", func(t testing.TB) (Store, string) { e := newS3Env(t, "tusimg/"); return e.store, e.base }},
}

func publishTo(t testing.TB, s Store, dir string, data []byte, at time.Time) Record {
	t.Helper()
	src, sha := writeSource(t, dir, data)
	rec := pngRecord(sha)
	rec.UploadedAt = at
	got, deduped, err := s.PublishFile(context.Background(), src, rec)
	if err != nil || deduped {
		t.Fatalf("PublishFile(%s) deduped=%v err=%v", sha, deduped, err)
	}
	return got
}

// seekOp is a seek followed by a read of n bytes (-1: to the end).
type seekOp struct {
	off    int64
	whence int
	n      int
}

// TestContractPublishOpenSeek publishes, reads the record back and reads the
// bytes through a table of seeks, on every Store.
func TestContractPublishOpenSeek(t *testing.T) {
	data := randomData(200 << 10)
	at := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	seeks := []struct {
		name string
		ops  []seekOp
		want []byte
	}{
		{"start", []seekOp{{5, io.SeekStart, 10}}, data[5:15]},
		{"from end", []seekOp{{-4, io.SeekEnd, -1}}, data[len(data)-4:]},
		{"current", []seekOp{{0, io.SeekCurrent, 3}, {2, io.SeekCurrent, 3}}, append(slices.Clone(data[0:3]), data[5:8]...)},
		{"back", []seekOp{{100, io.SeekStart, 10}, {10, io.SeekStart, 5}}, append(slices.Clone(data[100:110]), data[10:15]...)},
		{"past end", []seekOp{{int64(len(data)) + 5, io.SeekStart, -1}}, []byte{}},
		{"size probe then all", []seekOp{{0, io.SeekEnd, 0}, {0, io.SeekStart, -1}}, data},
	}
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			s, base := impl.open(t)
			ctx := context.Background()
			src, sha := writeSource(t, base, data)
			in := pngRecord(sha)
			in.UploadedAt, in.Filename, in.UploadID = at, "a.png", "up-1"
			rec, deduped, err := s.PublishFile(ctx, src, in)
			if err != nil || deduped {
				t.Fatalf("PublishFile: deduped=%v err=%v", deduped, err)
			}
			want := in
			want.Size, want.URL = int64(len(data)), "/i/"+sha+".png"
			if rec != want {
				t.Fatalf("record %+v, want %+v", rec, want)
			}
			mustNotExist(t, src)
			if got, err := s.Get(ctx, sha); err != nil || got != want {
				t.Fatalf("Get = %+v, %v", got, err)
			}
			for _, tt := range seeks {
				t.Run(tt.name, func(t *testing.T) {
					obj, err := s.Open(ctx, sha)
					if err != nil {
						t.Fatal(err)
					}
					defer obj.Close()
					if obj.Size() != int64(len(data)) || !obj.ModTime().Equal(at) {
						t.Fatalf("Size %d ModTime %v", obj.Size(), obj.ModTime())
					}
					if got := seekAndRead(t, obj, tt.ops); !bytes.Equal(got, tt.want) {
						t.Fatalf("read %d bytes, want %d (exact)", len(got), len(tt.want))
					}
					if _, err := obj.Seek(-1, io.SeekStart); err == nil {
						t.Error("Seek before start succeeded")
					}
				})
			}
		})
	}
}

// seekAndRead runs ops on obj and returns what they read.
func seekAndRead(t *testing.T, obj Object, ops []seekOp) []byte {
	t.Helper()
	var got []byte
	for _, o := range ops {
		if _, err := obj.Seek(o.off, o.whence); err != nil {
			t.Fatalf("Seek(%d, %d): %v", o.off, o.whence, err)
		}
		var b []byte
		var err error
		if o.n < 0 {
			b, err = io.ReadAll(obj)
		} else {
			b = make([]byte, o.n)
			_, err = io.ReadFull(obj, b)
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, b...)
	}
	return got
}

// TestContractDedupe: publishing stored bytes again removes the source and
// returns the first record.
func TestContractDedupe(t *testing.T) {
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			s, base := impl.open(t)
			data := randomData(1000)
			first := publishTo(t, s, base, data, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			src, sha := writeSource(t, base, data)
			rec := pngRecord(sha)
			rec.UploadID = "second"
			got, deduped, err := s.PublishFile(context.Background(), src, rec)
			if err != nil || !deduped || got != first {
				t.Fatalf("second publish = %+v, deduped %v, err %v; want first record, deduped", got, deduped, err)
			}
			mustNotExist(t, src)
		})
	}
}

// TestContractNotFound: unknown and malformed hashes.
func TestContractNotFound(t *testing.T) {
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			s, base := impl.open(t)
			ctx := context.Background()
			publishTo(t, s, base, []byte("x"), time.Now())
			for _, sha := range []string{strings.Repeat("0", 64), strings.Repeat("A", 64), "abc", "",
				strings.Repeat("0", 63) + "/", "../../" + strings.Repeat("0", 58)} {
				if _, err := s.Get(ctx, sha); !errors.Is(err, ErrNotFound) {
					t.Errorf("Get(%q) = %v, want ErrNotFound", sha, err)
				}
				if _, err := s.Open(ctx, sha); !errors.Is(err, ErrNotFound) {
					t.Errorf("Open(%q) = %v, want ErrNotFound", sha, err)
				}
			}
			src, _ := writeSource(t, base, []byte("y"))
			if _, _, err := s.PublishFile(ctx, src, pngRecord(strings.Repeat("G", 64))); !errors.Is(err, ErrBadHash) {
				t.Errorf("PublishFile(bad hash) = %v, want ErrBadHash", err)
			}
			if _, _, err := s.PublishFile(ctx, src, Record{SHA256: strings.Repeat("1", 64), Size: 99}); err == nil {
				t.Error("PublishFile with a wrong size succeeded")
			}
		})
	}
}

// TestContractList: the same images listed through the cursor in pages of
// several sizes come out identically, newest first with ties by descending
// hash, from every store.
func TestContractList(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []string
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			s, base := impl.open(t)
			ctx := context.Background()
			for i := range 23 {
				publishTo(t, s, base, fmt.Appendf(nil, "image %d", i), t0.Add(time.Duration(i/2)*time.Minute))
			}
			all, err := s.List(ctx, "", 100)
			if err != nil || len(all) != 23 {
				t.Fatalf("List all: %d records, %v", len(all), err)
			}
			if want == nil {
				want = shas(all)
			} else if !slices.Equal(shas(all), want) {
				t.Fatalf("order differs from the FS store's:\n got %v\nwant %v", shas(all), want)
			}
			for _, size := range []int{1, 5, 7, 23, 50} {
				if got := pagesOf(t, s, size); !slices.Equal(got, want) {
					t.Errorf("pages of %d: %v", size, got)
				}
			}
			for _, before := range []string{strings.Repeat("0", 64), "nope"} {
				if recs, err := s.List(ctx, before, 5); err != nil || recs == nil || len(recs) != 0 {
					t.Errorf("List(before %q) = %v, %v; want empty", before, recs, err)
				}
			}
			if recs, err := s.List(ctx, "", 0); err != nil || recs == nil || len(recs) != 0 {
				t.Errorf("List(limit 0) = %v, %v", recs, err)
			}
		})
	}
}

// pagesOf lists everything with the given page size through the cursor.
func pagesOf(t *testing.T, s Store, size int) []string {
	t.Helper()
	var all []string
	before := ""
	for range 100 {
		recs, err := s.List(context.Background(), before, size)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(recs) == 0 {
			return all
		}
		if len(recs) > size {
			t.Fatalf("List returned %d > limit %d", len(recs), size)
		}
		all = append(all, shas(recs)...)
		before = recs[len(recs)-1].SHA256
	}
	t.Fatal("pagination does not end")
	return nil
}

// headObject returns the stored object's metadata.
func headObject(t *testing.T, e *s3Env, key string) *s3.HeadObjectOutput {
	t.Helper()
	out, err := e.srv.Client.HeadObject(context.Background(), &s3.HeadObjectInput{
		Bucket: aws.String(e.srv.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("HeadObject %s: %v", key, err)
	}
	return out
}

// listKeys returns every key in the bucket under prefix.
func listKeys(t *testing.T, e *s3Env, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(e.srv.Client, &s3.ListObjectsV2Input{
		Bucket: aws.String(e.srv.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}
