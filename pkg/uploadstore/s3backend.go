package uploadstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/s3store"

	"github.com/tusimg/tusimg/pkg/s3blob"
)

// s3ID matches tusd s3store upload ids: a 32-hex object id, "+", and the
// multipart upload id the S3 server chose (URL-safe characters only).
var s3ID = regexp.MustCompile(`^[0-9a-f]{32}\+[A-Za-z0-9._~=\-]{1,1000}$`)

// s3Backend keeps uploads in an S3 bucket through tusd's s3store, so that
// any instance can serve any request of any upload, with our side records as
// small objects beside tusd's: <prefix>uploads/<escaped id>.hash|.outcome.
type s3Backend struct {
	store  s3store.S3Store
	client *s3.Client
	o      s3blob.Options
}

// NewS3 opens an upload store in the bucket and prefix of o, reached through
// client. Uploads and side records live under <prefix>uploads/. A bucket
// lifecycle rule aborting incomplete multipart uploads after a few days is
// recommended as a backstop to the janitor.
func NewS3(client *s3.Client, o s3blob.Options, opts Options) (*Store, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	st := s3store.New(o.Bucket, client)
	st.ObjectPrefix = o.Key("uploads/")
	st.MetadataObjectPrefix = st.ObjectPrefix
	// Parts of 8 MiB instead of 50: an interrupted upload keeps more of what
	// it sent, and the local temp file per part is smaller.
	st.PreferredPartSize = 8 << 20
	return newStore(&s3Backend{store: st, client: client, o: o}, opts)
}

func (b *s3Backend) core() handler.DataStore                         { return b.store }
func (b *s3Backend) terminater() handler.TerminaterDataStore         { return b.store }
func (b *s3Backend) lengthDeferrer() handler.LengthDeferrerDataStore { return b.store }
func (b *s3Backend) validID(id string) bool                          { return s3ID.MatchString(id) }
func (b *s3Backend) canTruncate() bool                               { return false }

func (b *s3Backend) truncate(ctx context.Context, id string, size int64) error { return errCannotRead }

// objectKey is where s3store puts the finished upload's bytes.
func (b *s3Backend) objectKey(id string) string {
	objectID, _, _ := strings.Cut(id, "+")
	return b.store.ObjectPrefix + objectID
}

func (b *s3Backend) sideKey(id, ext string) string {
	return b.store.ObjectPrefix + "side/" + url.PathEscape(id) + ext
}

func (b *s3Backend) dataSource(id string) DataSource {
	return DataSource{Bucket: b.o.Bucket, Key: b.objectKey(id)}
}

func (b *s3Backend) getSide(ctx context.Context, id, ext string) ([]byte, time.Time, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.o.Bucket, Key: aws.String(b.sideKey(id, ext))})
	if s3blob.IsNotFound(err) {
		return nil, time.Time{}, errNoSide
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("uploadstore: get %s%s: %w", id, ext, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("uploadstore: read %s%s: %w", id, ext, err)
	}
	return data, aws.ToTime(out.LastModified), nil
}

// putSide: an S3 PUT is atomic and durable once answered.
func (b *s3Backend) putSide(ctx context.Context, id, ext string, data []byte, mode sideMode) error {
	_, err := b.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b.o.Bucket, Key: aws.String(b.sideKey(id, ext)),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))), ContentType: aws.String("application/json")})
	if err != nil {
		return fmt.Errorf("uploadstore: put %s%s: %w", id, ext, err)
	}
	return nil
}

func (b *s3Backend) delSide(ctx context.Context, id, ext string) error {
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.o.Bucket, Key: aws.String(b.sideKey(id, ext))})
	if err != nil && !s3blob.IsNotFound(err) {
		return fmt.Errorf("uploadstore: delete %s%s: %w", id, ext, err)
	}
	return nil
}

func (b *s3Backend) listSide(ctx context.Context, ext string) ([]sideEntry, error) {
	prefix := b.store.ObjectPrefix + "side/"
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.o.Bucket, Prefix: &prefix})
	var out []sideEntry
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("uploadstore: list side records: %w", err)
		}
		for _, obj := range page.Contents {
			name, ok := strings.CutSuffix(strings.TrimPrefix(aws.ToString(obj.Key), prefix), ext)
			if !ok {
				continue
			}
			if id, err := url.PathUnescape(name); err == nil && b.validID(id) {
				out = append(out, sideEntry{ID: id, ModTime: aws.ToTime(obj.LastModified)})
			}
		}
	}
	return out, nil
}

func (b *s3Backend) sessionsByHash() bool { return true }

// sessions are the uploads with a hash state (written at creation, removed
// when the session ends).
func (b *s3Backend) sessions(ctx context.Context) ([]string, error) {
	entries, err := b.listSide(ctx, extHash)
	return idsOf(entries), err
}

// openData reads finished uploads only: s3store cannot read the parts of an
// incomplete multipart upload.
func (b *s3Backend) openData(ctx context.Context, id string, size int64, complete bool) (io.ReaderAt, io.Closer, error) {
	if !complete {
		return nil, nil, errCannotRead
	}
	r := s3blob.NewReaderAt(ctx, b.client, b.o.Bucket, b.objectKey(id), size, s3blob.ReaderAtOptions{})
	return r, io.NopCloser(nil), nil
}

// removeData terminates the upload in s3store (aborting the multipart upload
// and deleting its objects); the bytes of a published upload were already
// moved away.
func (b *s3Backend) removeData(ctx context.Context, id string, published bool) error {
	up, err := b.store.GetUpload(ctx, id)
	if err != nil {
		if errors.Is(err, handler.ErrNotFound) {
			return nil
		}
		return err
	}
	return b.store.AsTerminatableUpload(up).Terminate(ctx)
}

func (b *s3Backend) lastWrite(ctx context.Context, id string) (time.Time, bool) {
	return time.Time{}, false
}

// start: many instances share the bucket, and every side record is written
// only after the bytes it describes are stored, so there is no unclean state
// to detect.
func (b *s3Backend) start() (bool, error) { return true, nil }
func (b *s3Backend) stop() error          { return nil }

func (b *s3Backend) ready(ctx context.Context) error {
	_, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.o.Bucket}, s3blob.NoRetry)
	if err != nil {
		return fmt.Errorf("uploadstore: bucket %s: %w", b.o.Bucket, err)
	}
	return nil
}
