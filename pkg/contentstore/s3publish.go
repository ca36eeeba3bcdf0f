package contentstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tusimg/tusimg/pkg/s3blob"
)

// recordState is what a publish finds stored under a hash.
type recordState int

const (
	stateAbsent       recordState = iota
	stateComplete                 // record and bytes: dedupe
	stateNeedsRewrite             // record corrupt, or bytes missing: overwrite
)

// PublishFile implements Store. Steps:
//
//  1. srcPath must be a regular file; rec.Size, when non-zero, must equal
//     its size, and is filled in when zero.
//  2. When sha's record exists (and its bytes do), srcPath is removed and
//     the stored record returned (deduped).
//  3. The bytes are uploaded to images/ab/cd/<sha256>: one PutObject
//     carrying x-amz-checksum-sha256 (so S3 itself rejects bytes that do
//     not hash to rec.SHA256) up to Transfer.Threshold, a multipart upload
//     above it.
//  4. The List marker is written, then the record, with If-None-Match: *.
//     From here on the image is published.
//  5. srcPath is removed.
//
// Several instances may publish the same hash at once: their byte uploads
// write identical content, and the conditional record write lets exactly one
// record win. A loser deletes its marker and returns the winner's record
// with deduped true, as if it had found it in step 2. (A server without
// conditional writes would let the last record win; records of one hash
// differ only in uploaded_at, upload_id and filename.)
//
// A crash before step 4 leaves srcPath in place and at most bytes without a
// record (invisible, replaced by the next publish) and a marker that List
// ignores. If step 5 fails the image is published but an error is returned;
// publishing again dedupes and removes the source.
//
// Empty rec.URL becomes /i/<sha256>.<ext>; zero rec.UploadedAt becomes now.
func (s *S3) PublishFile(ctx context.Context, srcPath string, rec Record) (Record, bool, error) {
	if !ValidSHA256(rec.SHA256) {
		return Record{}, false, fmt.Errorf("contentstore: publish %q: %w", rec.SHA256, ErrBadHash)
	}
	if err := ctx.Err(); err != nil {
		return Record{}, false, err
	}
	st, err := os.Lstat(srcPath)
	if err != nil {
		return Record{}, false, fmt.Errorf("contentstore: publish source: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Record{}, false, fmt.Errorf("contentstore: publish source %s: not a regular file", srcPath)
	}
	if rec.Size != 0 && rec.Size != st.Size() {
		return Record{}, false, fmt.Errorf("contentstore: publish %s: record size %d, file %s has %d bytes",
			rec.SHA256, rec.Size, srcPath, st.Size())
	}
	rec = withDefaults(rec, st.Size())
	sum, _ := hex.DecodeString(rec.SHA256)
	put := s3blob.PutOptions{ContentType: rec.Type, CacheControl: imageCacheControl,
		ChecksumSHA256: base64.StdEncoding.EncodeToString(sum)}
	stored, deduped, err := s.publish(ctx, rec, func(ctx context.Context) error {
		return s.Transfer.UploadFile(ctx, s.client, s.opts.Bucket, s.blobKey(rec.SHA256), srcPath, rec.Size, put)
	})
	if err != nil {
		return Record{}, false, err
	}
	return stored, deduped, removeSource(srcPath)
}

// PublishObject is PublishFile for bytes already in S3, such as a finished
// tus upload: srcBucket/srcKey (which may be in the store's bucket) is
// copied server-side to the image's key (CopyObject, or UploadPartCopy
// parts above Transfer.CopyThreshold), the marker and record are written as
// in PublishFile, and the source object is deleted. When the hash is
// already stored, the source is deleted and the stored record returned with
// deduped true. The caller guarantees rec.SHA256 is the SHA-256 of the
// source's bytes; a missing source is an error wrapping ErrNotFound.
func (s *S3) PublishObject(ctx context.Context, srcBucket, srcKey string, rec Record) (Record, bool, error) {
	if !ValidSHA256(rec.SHA256) {
		return Record{}, false, fmt.Errorf("contentstore: publish %q: %w", rec.SHA256, ErrBadHash)
	}
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(srcKey)})
	if s3blob.IsNotFound(err) {
		return Record{}, false, fmt.Errorf("contentstore: publish source %s/%s: %w", srcBucket, srcKey, ErrNotFound)
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("contentstore: publish source %s/%s: %w", srcBucket, srcKey, err)
	}
	size := aws.ToInt64(head.ContentLength)
	if rec.Size != 0 && rec.Size != size {
		return Record{}, false, fmt.Errorf("contentstore: publish %s: record size %d, object %s has %d bytes",
			rec.SHA256, rec.Size, srcKey, size)
	}
	rec = withDefaults(rec, size)
	put := s3blob.PutOptions{ContentType: rec.Type, CacheControl: imageCacheControl}
	stored, deduped, err := s.publish(ctx, rec, func(ctx context.Context) error {
		return s.Transfer.Copy(ctx, s.client, srcBucket, srcKey, s.opts.Bucket, s.blobKey(rec.SHA256), size, put)
	})
	if err != nil {
		return Record{}, false, err
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(srcKey)})
	if err != nil {
		return stored, deduped, fmt.Errorf("contentstore: remove source %s/%s: %w", srcBucket, srcKey, err)
	}
	return stored, deduped, nil
}

// publish runs steps 2 to 4 of PublishFile, with place writing the bytes.
func (s *S3) publish(ctx context.Context, rec Record, place func(context.Context) error) (Record, bool, error) {
	sha := rec.SHA256
	old, state, err := s.existing(ctx, sha)
	if err != nil {
		return Record{}, false, err
	}
	if state == stateComplete {
		s.log.Debug("contentstore.deduped", "sha256", sha)
		return old, true, nil
	}
	if err := place(ctx); err != nil {
		return Record{}, false, fmt.Errorf("contentstore: publish %s: %w", sha, err)
	}
	if s.PublishPause > 0 {
		time.Sleep(s.PublishPause)
	}
	marker := s.markerKey(rec)
	if err := s.putObject(ctx, marker, nil, "", false); err != nil {
		return Record{}, false, err
	}
	body, err := encodeRecord(rec)
	if err != nil {
		return Record{}, false, err
	}
	err = s.putObject(ctx, s.recordKey(sha), body, recordType, state == stateAbsent)
	if s3blob.IsPreconditionFailed(err) { // another publisher's record won
		s.deleteMarker(ctx, marker)
		old, err := s.readRecord(ctx, sha)
		if err != nil {
			return Record{}, false, err
		}
		s.cache.put(sha, old)
		s.log.Debug("contentstore.deduped", "sha256", sha, "race", true)
		return old, true, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	s.cache.put(sha, rec)
	s.log.Debug("contentstore.published", "sha256", sha, "size", rec.Size, "type", rec.Type)
	return rec, false, nil
}

// existing reports what is stored under sha. A record that is corrupt or
// whose bytes are missing is logged and reported as needing a rewrite, so
// that the publish in progress repairs it.
func (s *S3) existing(ctx context.Context, sha string) (Record, recordState, error) {
	if rec, ok := s.cache.get(sha); ok {
		return rec, stateComplete, nil
	}
	rec, err := s.readRecord(ctx, sha)
	switch {
	case errors.Is(err, ErrNotFound):
		return Record{}, stateAbsent, nil
	case errors.Is(err, errCorruptRecord):
		s.log.Warn("contentstore.record_corrupt", "sha256", sha, "err", err, "action", "overwrite")
		return Record{}, stateNeedsRewrite, nil
	case err != nil:
		return Record{}, stateAbsent, err
	}
	_, err = s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.opts.Bucket),
		Key: aws.String(s.blobKey(sha))})
	if s3blob.IsNotFound(err) {
		s.log.Warn("contentstore.record_without_bytes", "sha256", sha, "action", "republish")
		return Record{}, stateNeedsRewrite, nil
	}
	if err != nil {
		return Record{}, stateAbsent, fmt.Errorf("contentstore: head %s: %w", sha, err)
	}
	s.cache.put(sha, rec)
	return rec, stateComplete, nil
}

// putObject writes a small object; ifAbsent adds If-None-Match: *.
func (s *S3) putObject(ctx context.Context, key string, body []byte, ctype string, ifAbsent bool) error {
	in := &s3.PutObjectInput{Bucket: aws.String(s.opts.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}
	if ctype != "" {
		in.ContentType = aws.String(ctype)
	}
	if ifAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("contentstore: put %s: %w", key, err)
	}
	return nil
}
