package contentstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// Markers: <prefix>recent/<19-digit MaxInt64-UnixNano>-<hexInvert(sha)>,
// empty objects whose ascending key order (the order ListObjectsV2 returns)
// is newest first, ties by descending hash: FS's List order.
const (
	markerDir      = "recent/"
	markerTimeLen  = 19
	listFetchLimit = 8 // record GETs in flight per List page
)

// markerKey names rec's marker.
func (s *S3) markerKey(rec Record) string {
	return s.opts.Key(markerDir + markerName(rec.UploadedAt, rec.SHA256))
}

func markerName(at time.Time, sha string) string {
	n := max(at.UnixNano(), 0) // times before 1970 sort as 1970
	return fmt.Sprintf("%0*d-%s", markerTimeLen, math.MaxInt64-n, hexInvert(sha))
}

// parseMarker returns the hash and upload time (Unix nanoseconds) a marker
// name stands for; ok is false for a name that is not a marker.
func parseMarker(name string) (sha string, nanos int64, ok bool) {
	inv, hash, found := strings.Cut(name, "-")
	if !found || len(inv) != markerTimeLen || !ValidSHA256(hash) {
		return "", 0, false
	}
	v, err := strconv.ParseInt(inv, 10, 64)
	if err != nil || v < 0 {
		return "", 0, false
	}
	return hexInvert(hash), math.MaxInt64 - v, true
}

// deleteMarker removes a marker that lost a publish race; failure only
// leaves a marker that List ignores.
func (s *S3) deleteMarker(ctx context.Context, key string) {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.opts.Bucket), Key: aws.String(key)})
	if err != nil {
		s.log.Warn("contentstore.marker_delete_failed", "key", key, "err", err)
	}
}

// List implements Store. Images are ordered newest first by UploadedAt, ties
// broken by descending hash, like FS. It lists markers with ListObjectsV2
// (starting after before's marker, rebuilt from its record) and reads their
// records (cached; up to 8 GETs in flight). A marker whose record is missing
// (a publish in progress or crashed) or has another upload time (it lost a
// publish race) is skipped. limit is not capped here; a limit <= 0 yields
// an empty list. The result is never nil.
func (s *S3) List(ctx context.Context, before string, limit int) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	recs := []Record{}
	if limit <= 0 {
		return recs, nil
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.opts.Bucket), Prefix: aws.String(s.opts.Key(markerDir)),
		MaxKeys: aws.Int32(int32(min(limit, 1000)))}
	if before != "" {
		rec, err := s.Get(ctx, before)
		if errors.Is(err, ErrNotFound) {
			return recs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("contentstore: list: %w", err)
		}
		in.StartAfter = aws.String(s.markerKey(rec))
	}
	pages := s3.NewListObjectsV2Paginator(s.client, in)
	for len(recs) < limit && pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("contentstore: list markers: %w", err)
		}
		got, err := s.resolveMarkers(ctx, page.Contents)
		if err != nil {
			return nil, err
		}
		recs = append(recs, got[:min(len(got), limit-len(recs))]...)
	}
	return recs, nil
}

// resolveMarkers returns the records of the valid markers among objs, in
// order.
func (s *S3) resolveMarkers(ctx context.Context, objs []s3types.Object) ([]Record, error) {
	prefix := s.opts.Key(markerDir)
	found := make([]*Record, len(objs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listFetchLimit)
	for i, obj := range objs {
		sha, nanos, ok := parseMarker(strings.TrimPrefix(aws.ToString(obj.Key), prefix))
		if !ok {
			continue
		}
		g.Go(func() error {
			rec, err := s.Get(gctx, sha)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("contentstore: list: %w", err)
			}
			if rec.UploadedAt.UnixNano() == nanos || (nanos == 0 && rec.UploadedAt.UnixNano() < 0) {
				found[i] = &rec
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	recs := make([]Record, 0, len(objs))
	for _, r := range found {
		if r != nil {
			recs = append(recs, *r)
		}
	}
	return recs, nil
}
