package s3blob

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// S3 limits and the defaults of Transfer.
const (
	MinPartSize = 5 << 20 // S3's minimum size of every part but the last
	MaxParts    = 10000   // S3's maximum number of parts

	DefaultThreshold     = 64 << 20 // multipart uploads above this size
	DefaultPartSize      = 8 << 20
	DefaultConcurrency   = 4
	DefaultCopyThreshold = 5 << 30 // S3's CopyObject limit
)

// PutOptions are the headers stored with an object that Transfer writes.
type PutOptions struct {
	ContentType  string
	CacheControl string
	// ChecksumSHA256, when set, is the base64 SHA-256 of the object's bytes;
	// it is sent with single-request uploads (x-amz-checksum-sha256), so the
	// server rejects bytes that do not match. Multipart uploads cannot carry
	// a whole-object SHA-256 and ignore it.
	ChecksumSHA256 string
}

// Transfer moves whole objects, switching to multipart transfers above a
// threshold. The zero value uses the defaults; a Transfer is a value and
// safe for concurrent use.
type Transfer struct {
	// Threshold: files larger than this are uploaded in parts
	// (default 64 MiB).
	Threshold int64
	// PartSize is the size of each part (default 8 MiB; at least
	// MinPartSize; grown when the object would need more than MaxParts).
	PartSize int64
	// Concurrency bounds the parts in flight per transfer (default 4).
	Concurrency int
	// CopyThreshold: objects larger than this are copied in parts with
	// UploadPartCopy (default 5 GiB, the CopyObject limit).
	CopyThreshold int64
}

func (t Transfer) withDefaults() Transfer {
	if t.Threshold <= 0 {
		t.Threshold = DefaultThreshold
	}
	if t.PartSize <= 0 {
		t.PartSize = DefaultPartSize
	}
	t.PartSize = max(t.PartSize, MinPartSize)
	if t.Concurrency <= 0 {
		t.Concurrency = DefaultConcurrency
	}
	if t.CopyThreshold <= 0 {
		t.CopyThreshold = DefaultCopyThreshold
	}
	return t
}

// partSize returns the part size for an object of size bytes.
func (t Transfer) partSize(size int64) int64 {
	return max(t.PartSize, (size+MaxParts-1)/MaxParts)
}

// UploadFile writes the first size bytes of the file at path to
// bucket/key: one PutObject up to Threshold, a multipart upload above it. A
// failed multipart upload is aborted. The object appears atomically, when
// the last request succeeds.
func (t Transfer) UploadFile(ctx context.Context, client *s3.Client, bucket, key, path string,
	size int64, po PutOptions) error {
	t = t.withDefaults()
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("s3blob: upload %s: %w", key, err)
	}
	defer f.Close()
	if size <= t.Threshold {
		in := &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(key),
			Body: io.NewSectionReader(f, 0, size), ContentLength: aws.Int64(size),
			ContentType: optString(po.ContentType), CacheControl: optString(po.CacheControl),
			ChecksumSHA256: optString(po.ChecksumSHA256),
		}
		if _, err := client.PutObject(ctx, in); err != nil {
			return fmt.Errorf("s3blob: put %s: %w", key, err)
		}
		return nil
	}
	return t.multipart(ctx, client, bucket, key, size, po, func(ctx context.Context, uploadID string,
		part int32, off, n int64) (types.CompletedPart, error) {
		out, err := client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
			PartNumber: aws.Int32(part), Body: io.NewSectionReader(f, off, n), ContentLength: aws.Int64(n),
		})
		if err != nil {
			return types.CompletedPart{}, err
		}
		return types.CompletedPart{PartNumber: aws.Int32(part), ETag: out.ETag}, nil
	})
}

// Copy copies srcBucket/srcKey (size bytes) to dstBucket/dstKey server-side,
// replacing its metadata with po: CopyObject up to CopyThreshold,
// UploadPartCopy parts above it. The source is left in place.
func (t Transfer) Copy(ctx context.Context, client *s3.Client, srcBucket, srcKey, dstBucket, dstKey string,
	size int64, po PutOptions) error {
	t = t.withDefaults()
	src := CopySource(srcBucket, srcKey)
	if size <= t.CopyThreshold {
		_, err := client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: aws.String(dstBucket), Key: aws.String(dstKey), CopySource: aws.String(src),
			MetadataDirective: types.MetadataDirectiveReplace,
			ContentType:       optString(po.ContentType), CacheControl: optString(po.CacheControl),
		})
		if err != nil {
			return fmt.Errorf("s3blob: copy %s to %s: %w", srcKey, dstKey, err)
		}
		return nil
	}
	return t.multipart(ctx, client, dstBucket, dstKey, size, po, func(ctx context.Context, uploadID string,
		part int32, off, n int64) (types.CompletedPart, error) {
		out, err := client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: aws.String(dstBucket), Key: aws.String(dstKey), UploadId: aws.String(uploadID),
			PartNumber: aws.Int32(part), CopySource: aws.String(src),
			CopySourceRange: aws.String(RangeHeader(off, n)),
		})
		if err != nil {
			return types.CompletedPart{}, err
		}
		return types.CompletedPart{PartNumber: aws.Int32(part), ETag: out.CopyPartResult.ETag}, nil
	})
}

// partFunc transfers one part (number part, n bytes from off).
type partFunc func(ctx context.Context, uploadID string, part int32, off, n int64) (types.CompletedPart, error)

// multipart runs a multipart upload of size bytes to bucket/key, calling do
// for each part with at most t.Concurrency in flight, and completes it; on
// any error the upload is aborted.
func (t Transfer) multipart(ctx context.Context, client *s3.Client, bucket, key string, size int64,
	po PutOptions, do partFunc) error {
	created, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key),
		ContentType: optString(po.ContentType), CacheControl: optString(po.CacheControl),
	})
	if err != nil {
		return fmt.Errorf("s3blob: create multipart %s: %w", key, err)
	}
	uploadID := aws.ToString(created.UploadId)
	ps := t.partSize(size)
	parts := make([]types.CompletedPart, (size+ps-1)/ps)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.Concurrency)
	for i := range parts {
		off := int64(i) * ps
		g.Go(func() error {
			p, err := do(gctx, uploadID, int32(i+1), off, min(ps, size-off))
			parts[i] = p
			return err
		})
	}
	err = g.Wait()
	if err == nil {
		_, err = client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
	}
	if err != nil {
		abortCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = client.AbortMultipartUpload(abortCtx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
		})
		return fmt.Errorf("s3blob: multipart %s: %w", key, err)
	}
	return nil
}

// CopySource returns the x-amz-copy-source value naming bucket/key, each
// path segment URL-escaped.
func CopySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return url.PathEscape(bucket) + "/" + strings.Join(segs, "/")
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
