package contentstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tusimg/tusimg/pkg/s3blob"
)

// getObject returns an object's bytes.
func getObject(t *testing.T, e *s3Env, key string) []byte {
	t.Helper()
	body, err := s3blob.OpenRange(context.Background(), e.srv.Client, e.srv.Bucket, key, 0, -1)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func putObject(t *testing.T, e *s3Env, key string, data []byte) {
	t.Helper()
	_, err := e.srv.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(e.srv.Bucket),
		Key: aws.String(key), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestS3Layout checks every object a publish leaves, and their metadata.
func TestS3Layout(t *testing.T) {
	e := newS3Env(t, "tusimg")
	data := randomData(5000)
	at := time.Date(2025, 6, 7, 8, 9, 10, 11, time.UTC)
	rec := publishTo(t, e.store, e.base, data, at)
	sha := rec.SHA256
	img := "tusimg/images/" + sha[:2] + "/" + sha[2:4] + "/" + sha
	want := []string{img, img + ".json", "tusimg/recent/" + markerName(at, sha)}
	slices.Sort(want)
	if got := listKeys(t, e, ""); !slices.Equal(got, want) {
		t.Fatalf("bucket holds %v, want %v", got, want)
	}
	h := headObject(t, e, img)
	if aws.ToString(h.ContentType) != "image/png" || aws.ToString(h.CacheControl) != imageCacheControl ||
		aws.ToInt64(h.ContentLength) != int64(len(data)) {
		t.Errorf("image metadata: type %q, cache %q, length %d", aws.ToString(h.ContentType),
			aws.ToString(h.CacheControl), aws.ToInt64(h.ContentLength))
	}
	if ct := aws.ToString(headObject(t, e, img+".json").ContentType); ct != recordType {
		t.Errorf("record Content-Type %q", ct)
	}
	wantJSON, _ := encodeRecord(rec)
	if got := getObject(t, e, img+".json"); !bytes.Equal(got, wantJSON) {
		t.Errorf("record object:\n%s\nwant (FS's encoding):\n%s", got, wantJSON)
	}
	if !bytes.Equal(getObject(t, e, img), data) {
		t.Error("image bytes differ")
	}
}

// TestS3ChecksumMismatch: S3 refuses bytes that do not hash to the record's
// SHA-256, and nothing is published.
func TestS3ChecksumMismatch(t *testing.T) {
	e := newS3Env(t, "")
	src, _ := writeSource(t, e.base, []byte("real bytes"))
	wrong := sha256Hex([]byte("other bytes"))
	if _, _, err := e.store.PublishFile(context.Background(), src, pngRecord(wrong)); err == nil {
		t.Fatal("publish of bytes under another hash succeeded")
	}
	if keys := listKeys(t, e, ""); len(keys) != 0 {
		t.Errorf("bucket holds %v after a refused publish", keys)
	}
	if _, err := e.store.Get(context.Background(), wrong); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound", err)
	}
}

// TestS3PublishMultipart uploads a file above the threshold in parts.
func TestS3PublishMultipart(t *testing.T) {
	e := newS3Env(t, "")
	e.store.Transfer = s3blob.Transfer{Threshold: 6 << 20, PartSize: 5 << 20, Concurrency: 2}
	data := randomData(12<<20 + 123)
	rec := publishTo(t, e.store, e.base, data, time.Now())
	all, _ := e.reqs.take()
	if all[http.MethodPut] < 3+2 { // 3 parts, marker, record
		t.Errorf("requests %v: want at least 3 part uploads", all)
	}
	key := e.store.blobKey(rec.SHA256)
	if !bytes.Equal(getObject(t, e, key), data) {
		t.Fatal("bytes differ after multipart upload")
	}
	if h := headObject(t, e, key); aws.ToString(h.ContentType) != "image/png" ||
		aws.ToString(h.CacheControl) != imageCacheControl {
		t.Errorf("metadata: %q %q", aws.ToString(h.ContentType), aws.ToString(h.CacheControl))
	}
}

// TestS3PublishObject publishes objects already in the bucket by copy.
func TestS3PublishObject(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		transfer s3blob.Transfer
	}{
		{"copy", 300 << 10, s3blob.Transfer{}},
		{"multipart copy", 11<<20 + 7, s3blob.Transfer{CopyThreshold: 6 << 20, PartSize: 5 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newS3Env(t, "p/")
			e.store.Transfer = tt.transfer
			ctx := context.Background()
			data := randomData(tt.size)
			sha := sha256Hex(data)
			putObject(t, e, "p/uploads/abc", data)
			rec, deduped, err := e.store.PublishObject(ctx, e.srv.Bucket, "p/uploads/abc", pngRecord(sha))
			if err != nil || deduped || rec.Size != int64(tt.size) {
				t.Fatalf("PublishObject = %+v, %v, %v", rec, deduped, err)
			}
			if keys := listKeys(t, e, "p/uploads/"); len(keys) != 0 {
				t.Errorf("source left behind: %v", keys)
			}
			key := e.store.blobKey(sha)
			if !bytes.Equal(getObject(t, e, key), data) {
				t.Fatal("copied bytes differ")
			}
			if h := headObject(t, e, key); aws.ToString(h.ContentType) != "image/png" ||
				aws.ToString(h.CacheControl) != imageCacheControl {
				t.Errorf("metadata: %q %q", aws.ToString(h.ContentType), aws.ToString(h.CacheControl))
			}
			putObject(t, e, "p/uploads/again", data)
			again, deduped, err := e.store.PublishObject(ctx, e.srv.Bucket, "p/uploads/again", pngRecord(sha))
			if err != nil || !deduped || again != rec {
				t.Fatalf("second PublishObject = %+v, %v, %v", again, deduped, err)
			}
			if keys := listKeys(t, e, "p/uploads/"); len(keys) != 0 {
				t.Errorf("deduped source left behind: %v", keys)
			}
			_, _, err = e.store.PublishObject(ctx, e.srv.Bucket, "p/uploads/missing", pngRecord(sha))
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("missing source: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestS3ConcurrentInstances publishes the same hashes from two store
// instances at once: each hash gets one record (the first writer's), both
// callers get that record, and the loser's marker is gone.
func TestS3ConcurrentInstances(t *testing.T) {
	a := newS3Env(t, "shared/")
	b := newS3EnvOn(t, a.srv, "shared/")
	ctx := context.Background()
	const images = 6
	for i := range images {
		data := randomData(100<<10 + i)
		srcA, sha := writeSource(t, a.base, data)
		srcB, _ := writeSource(t, b.base, data)
		var wg sync.WaitGroup
		var recs [2]Record
		var dedup [2]bool
		var errs [2]error
		for j, pub := range []struct {
			s   *S3
			src string
		}{{a.store, srcA}, {b.store, srcB}} {
			wg.Go(func() {
				rec := pngRecord(sha)
				rec.UploadID = fmt.Sprint("instance-", j)
				recs[j], dedup[j], errs[j] = pub.s.PublishFile(ctx, pub.src, rec)
			})
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("publish errors: %v, %v", errs[0], errs[1])
		}
		if dedup[0] == dedup[1] {
			t.Errorf("image %d: deduped %v, %v; want exactly one winner", i, dedup[0], dedup[1])
		}
		if recs[0] != recs[1] {
			t.Errorf("image %d: instances returned different records:\n%+v\n%+v", i, recs[0], recs[1])
		}
		mustNotExist(t, srcA)
		mustNotExist(t, srcB)
	}
	c := newS3EnvOn(t, a.srv, "shared/")
	list, err := c.store.List(ctx, "", 100)
	if err != nil || len(list) != images {
		t.Fatalf("List from a third instance: %d records, %v", len(list), err)
	}
	if markers := listKeys(t, a, "shared/recent/"); len(markers) != images {
		t.Errorf("%d markers for %d images", len(markers), images)
	}
}

// TestS3ListSkipsStaleMarkers: markers without a record, with another
// upload time, or not markers at all are ignored.
func TestS3ListSkipsStaleMarkers(t *testing.T) {
	e := newS3Env(t, "")
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []string
	for i := range 3 {
		want = append(want, publishTo(t, e.store, e.base, fmt.Appendf(nil, "img %d", i), t0.Add(time.Duration(i)*time.Hour)).SHA256)
	}
	slices.Reverse(want)
	putObject(t, e, "recent/"+markerName(t0.Add(time.Minute), want[0]), nil) // lost a race
	putObject(t, e, "recent/"+markerName(t0.Add(9*time.Hour), strings.Repeat("e", 64)), nil)
	putObject(t, e, "recent/garbage", nil)
	fresh := newS3EnvOn(t, e.srv, "")
	for _, size := range []int{1, 2, 10} {
		if got := pagesOf(t, fresh.store, size); !slices.Equal(got, want) {
			t.Errorf("pages of %d: %v, want %v", size, got, want)
		}
	}
}

// TestS3RepairsDamage: a corrupt record is an error (not ErrNotFound) and a
// record whose bytes are missing is republished.
func TestS3RepairsDamage(t *testing.T) {
	e := newS3Env(t, "")
	ctx := context.Background()
	data := []byte("damaged image")
	sha := sha256Hex(data)
	putObject(t, e, e.store.recordKey(sha), []byte("{not json"))
	if _, err := e.store.Get(ctx, sha); !errors.Is(err, errCorruptRecord) {
		t.Fatalf("Get of a corrupt record = %v", err)
	}
	rec := publishTo(t, e.store, e.base, data, time.Now()) // fails unless it overwrites
	if _, err := e.srv.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(e.srv.Bucket),
		Key: aws.String(e.store.blobKey(sha))}); err != nil {
		t.Fatal(err)
	}
	fresh := newS3EnvOn(t, e.srv, "")
	again := publishTo(t, fresh.store, e.base, data, rec.UploadedAt.Add(time.Second))
	if !bytes.Equal(getObject(t, e, e.store.blobKey(sha)), data) || again.UploadedAt.Equal(rec.UploadedAt) {
		t.Errorf("bytes not republished, or record %+v not rewritten", again)
	}
}
