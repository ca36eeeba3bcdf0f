// Package s3blob holds the small S3 helpers that tusimg's S3-backed stores
// share: the bucket/prefix Options and a client built from them with the
// standard AWS credential chain, key naming under a prefix, error
// classification (IsNotFound, IsPreconditionFailed), ranged reads (ReaderAt,
// OpenRange) and large transfers (UploadFile, Copy) that switch to multipart
// above a threshold.
//
// It knows nothing about images, records or uploads: the content store
// (pkg/contentstore) and the upload store decide what the objects mean.
package s3blob

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// DefaultRegion is used when neither Options.Region nor the AWS
// environment/config names a region. S3-compatible servers usually accept it.
const DefaultRegion = "us-east-1"

// Options names where objects live and how to reach the server. The zero
// value is not usable: Bucket is required.
type Options struct {
	// Bucket holds every object. Required.
	Bucket string
	// Prefix is prepended to every key (e.g. "tusimg/"). A non-empty prefix
	// without a trailing slash gets one; see Key.
	Prefix string
	// Endpoint overrides the S3 endpoint URL (e.g. "http://127.0.0.1:7070"
	// for versitygw or MinIO). Empty: AWS's endpoint for the region.
	Endpoint string
	// Region is the signing region. Empty: AWS_REGION / the shared config,
	// else DefaultRegion.
	Region string
	// PathStyle addresses the bucket in the path (endpoint/bucket/key)
	// instead of the host name; most S3-compatible servers need it.
	PathStyle bool
}

// Validate reports what makes o unusable.
func (o Options) Validate() error {
	var errs []error
	if o.Bucket == "" {
		errs = append(errs, errors.New("s3blob: bucket is required"))
	}
	if strings.HasPrefix(o.Prefix, "/") {
		errs = append(errs, fmt.Errorf("s3blob: prefix %q must not start with '/'", o.Prefix))
	}
	if o.Endpoint != "" && !strings.HasPrefix(o.Endpoint, "http://") && !strings.HasPrefix(o.Endpoint, "https://") {
		errs = append(errs, fmt.Errorf("s3blob: endpoint %q must be an http:// or https:// URL", o.Endpoint))
	}
	return errors.Join(errs...)
}

// Key returns the object key of name under o.Prefix. A non-empty prefix is
// separated from name by exactly one slash (trailing slashes of the prefix
// are dropped).
func (o Options) Key(name string) string {
	if o.Prefix == "" {
		return name
	}
	return strings.TrimRight(o.Prefix, "/") + "/" + name
}

// NewClient returns an S3 client for o. Credentials come from the standard
// AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the
// shared config files, web identity, container and instance roles), as
// config.LoadDefaultConfig finds them. optFns tune the client further (tests
// use them to shorten retries). The client is safe for concurrent use.
func NewClient(ctx context.Context, o Options, optFns ...func(*s3.Options)) (*s3.Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var loadOpts []func(*config.LoadOptions) error
	if o.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3blob: load AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	fns := []func(*s3.Options){func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
	}}
	return s3.NewFromConfig(cfg, append(fns, optFns...)...), nil
}

// NoRetry is a per-operation option that makes a call fail on the first
// error instead of retrying with backoff: for probes such as readiness
// checks, which must answer quickly when the server is down.
func NoRetry(o *s3.Options) { o.RetryMaxAttempts = 1 }

// IsNotFound reports whether err says that an object does not exist:
// NoSuchKey (GET) or NotFound (HEAD, which has no error body), or any
// other S3 error answered with status 404 except NoSuchBucket and
// NoSuchUpload, which are configuration or protocol errors, not a missing
// object.
func IsNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		case "NoSuchBucket", "NoSuchUpload":
			return false
		}
	}
	return httpStatus(err) == http.StatusNotFound
}

// IsPreconditionFailed reports whether a conditional request lost: status
// 412 (PreconditionFailed, e.g. If-None-Match: * on an existing key) or 409
// ConditionalRequestConflict (a concurrent conditional write won the race).
func IsPreconditionFailed(err error) bool {
	if err == nil {
		return false
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return true
		}
	}
	return httpStatus(err) == http.StatusPreconditionFailed
}

// httpStatus returns the HTTP status of an S3 response error, or 0.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// RangeHeader returns the HTTP Range value for n bytes from off; n < 0 means
// to the end of the object.
func RangeHeader(off, n int64) string {
	if n < 0 {
		return fmt.Sprintf("bytes=%d-", off)
	}
	return fmt.Sprintf("bytes=%d-%d", off, off+n-1)
}
