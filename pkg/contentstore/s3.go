package contentstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tusimg/tusimg/pkg/s3blob"
)

// Object metadata of stored images and records.
const (
	imageCacheControl = "public, max-age=31536000, immutable"
	recordType        = "application/json"
	maxPresignTTL     = 7 * 24 * time.Hour // S3's limit for SigV4 presigned URLs
	maxRecordBytes    = 1 << 20            // a record larger than this is corrupt
)

// S3 is the Store on an S3 bucket, for many instances sharing one store.
// Under the prefix, each image lives at images/ab/cd/<sha256> (with its
// Content-Type and Cache-Control: public, max-age=31536000, immutable), its
// record at images/ab/cd/<sha256>.json, and an empty marker object at
// recent/<inverted upload time>-<inverted sha256> orders images for List.
//
// An image is visible to Get, Open and List only when its record exists. The
// record is written last and S3 writes each object atomically, so a reader
// never sees a record without complete bytes. See PublishFile for
// concurrent publishes of one hash.
//
// Records are immutable and cached (an LRU of 10,000). Unknown hashes are not
// cached: each lookup of one costs a GET. S3 is safe for concurrent use; its
// exported fields must be set before first use.
type S3 struct {
	client  *s3.Client
	presign *s3.PresignClient
	opts    s3blob.Options
	log     *slog.Logger
	cache   *recordCache
	probe   string     // this instance's readiness probe key
	disk    *diskCache // nil unless UseDiskCache

	// Transfer tunes uploads and copies of image bytes. The zero value
	// uploads files above 64 MiB in 8 MiB parts, 4 at a time, and copies
	// objects up to 5 GiB with one CopyObject.
	Transfer s3blob.Transfer
	// PublishPause, when positive, makes a publish sleep after the bytes are
	// in place and before the record is written: the crash window kill -9
	// tests aim at. Zero outside such tests.
	PublishPause time.Duration
}

var _ Store = (*S3)(nil)

// NewS3 returns the S3 store on o.Bucket under o.Prefix, using client
// (o.Endpoint, o.Region and o.PathStyle are the client's business; see
// s3blob.NewClient). It does no I/O, so a server can start while S3 is
// unreachable; Ready tells when it is usable. A nil log discards logs.
func NewS3(client *s3.Client, o s3blob.Options, log *slog.Logger) (*S3, error) {
	if client == nil {
		return nil, errors.New("contentstore: nil S3 client")
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("contentstore: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &S3{client: client, presign: s3.NewPresignClient(client), opts: o, log: log,
		cache: newRecordCache(cacheRecords), probe: o.Key(".ready/" + rand.Text())}, nil
}

// blobKey and recordKey name a valid sha's objects.
func (s *S3) blobKey(sha string) string {
	return s.opts.Key("images/" + sha[0:2] + "/" + sha[2:4] + "/" + sha)
}

func (s *S3) recordKey(sha string) string { return s.blobKey(sha) + recordSuffix }

// Get implements Store. Records are immutable, so results are cached.
func (s *S3) Get(ctx context.Context, sha string) (Record, error) {
	if !ValidSHA256(sha) {
		return Record{}, fmt.Errorf("contentstore: get: malformed hash: %w", ErrNotFound)
	}
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	if rec, ok := s.cache.get(sha); ok {
		return rec, nil
	}
	rec, err := s.readRecord(ctx, sha)
	if err != nil {
		return Record{}, err
	}
	s.cache.put(sha, rec)
	return rec, nil
}

// readRecord GETs and parses sha's record. A missing record yields an error
// wrapping ErrNotFound, an unusable one an error wrapping errCorruptRecord.
func (s *S3) readRecord(ctx context.Context, sha string) (Record, error) {
	key := s.recordKey(sha)
	body, err := s3blob.OpenRange(ctx, s.client, s.opts.Bucket, key, 0, -1)
	if s3blob.IsNotFound(err) {
		return Record{}, fmt.Errorf("contentstore: get %s: %w", sha, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("contentstore: get %s: %w", sha, err)
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxRecordBytes+1))
	if err != nil {
		return Record{}, fmt.Errorf("contentstore: read record %s: %w", key, err)
	}
	var rec Record
	if len(b) > maxRecordBytes {
		err = errors.New("too large")
	} else {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		return Record{}, fmt.Errorf("contentstore: record %s: %w: %v", key, errCorruptRecord, err)
	}
	if rec.SHA256 != sha {
		return Record{}, fmt.Errorf("contentstore: record %s: %w: it describes %q", key, errCorruptRecord, rec.SHA256)
	}
	return rec, nil
}

// Open implements Store. It reads (usually from the cache) the record only:
// the Object's size and modification time come from it, and its bytes are
// fetched lazily by Read with one ranged GET from the current position, so
// a response that reads nothing (HEAD, 304, 416) costs no GET. ctx bounds
// those GETs, so it must outlive the Object's use. With UseDiskCache, a
// cached image is served from its local copy (an *os.File, so sendfile
// applies) without any request to S3.
func (s *S3) Open(ctx context.Context, sha string) (Object, error) {
	rec, err := s.Get(ctx, sha)
	if err != nil {
		return nil, err
	}
	if s.disk != nil {
		if f, ok := s.disk.open(sha, rec.Size); ok {
			return &fileObject{File: f, size: rec.Size, mod: rec.UploadedAt}, nil
		}
	}
	return &s3Object{ctx: ctx, client: s.client, bucket: s.opts.Bucket, key: s.blobKey(sha),
		sha: sha, size: rec.Size, mod: rec.UploadedAt, disk: s.disk}, nil
}

// Ready implements Store: the bucket answers HeadBucket, and a probe object
// under <prefix>.ready/ can be written and deleted. Requests are not retried,
// so an unreachable server fails as fast as ctx allows. Each store instance
// uses one probe key, so a probe interrupted between its write and delete
// leaves at most one object per instance, removed by the next Ready.
func (s *S3) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bucket := aws.String(s.opts.Bucket)
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}, s3blob.NoRetry); err != nil {
		return fmt.Errorf("contentstore: ready: head bucket %s: %w", s.opts.Bucket, err)
	}
	key := aws.String(s.probe)
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key,
		Body: bytes.NewReader(nil), ContentLength: aws.Int64(0)}, s3blob.NoRetry)
	if err != nil {
		return fmt.Errorf("contentstore: ready: put probe %s: %w", *key, err)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key}, s3blob.NoRetry); err != nil {
		return fmt.Errorf("contentstore: ready: delete probe %s: %w", *key, err)
	}
	return nil
}

// PresignGet returns a URL from which anyone can GET sha's bytes directly
// from S3 for ttl (at most 7 days), for serving by redirect. The URL asks S3
// to answer with the record's Content-Type and the images' Cache-Control.
// S3 honours Range and If-None-Match on it, but its ETag is S3's, not
// "<sha256>", and it sends no X-Content-Type-Options or CSP header. An
// unknown sha yields ErrNotFound.
func (s *S3) PresignGet(ctx context.Context, sha string, ttl time.Duration) (string, error) {
	if ttl <= 0 || ttl > maxPresignTTL {
		return "", fmt.Errorf("contentstore: presign: ttl %s out of range (0, %s]", ttl, maxPresignTTL)
	}
	rec, err := s.Get(ctx, sha)
	if err != nil {
		return "", err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.opts.Bucket), Key: aws.String(s.blobKey(sha)),
		ResponseContentType: aws.String(rec.Type), ResponseCacheControl: aws.String(imageCacheControl),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("contentstore: presign %s: %w", sha, err)
	}
	return req.URL, nil
}

// encodeRecord is the record's stored form, the same as FS's.
func encodeRecord(rec Record) ([]byte, error) {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("contentstore: encode record %s: %w", rec.SHA256, err)
	}
	return append(b, '\n'), nil
}

// hexInvert maps each hex digit d of a valid hash to f-d, so that ascending
// order of the results is descending order of the hashes. It is its own
// inverse.
func hexInvert(sha string) string {
	const hexDigits = "0123456789abcdef"
	b := []byte(sha)
	for i, c := range b {
		v := c - '0'
		if c >= 'a' {
			v = c - 'a' + 10
		}
		b[i] = hexDigits[15-v]
	}
	return string(b)
}
