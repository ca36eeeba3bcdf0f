// Package contentstore owns the content-addressed image store: each accepted
// image is kept once under its lowercase hex SHA-256, next to a JSON Record
// describing it. Identical bytes are stored once (dedupe).
//
// The package does not check images (see imagecheck), does not know about
// uploads or HTTP, and never computes the hash of what it is given: callers
// publish bytes whose SHA-256 they have already computed.
package contentstore

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned when no image is stored under a hash.
var ErrNotFound = errors.New("contentstore: image not found")

// Record is the JSON image record kept for every stored image.
type Record struct {
	SHA256     string    `json:"sha256"`
	Size       int64     `json:"size"`
	Type       string    `json:"type"`
	Ext        string    `json:"ext"`
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	Frames     int       `json:"frames"`
	Filename   string    `json:"filename,omitempty"`
	UploadedAt time.Time `json:"uploaded_at"`
	UploadID   string    `json:"upload_id,omitempty"`
	URL        string    `json:"url"`
}

// Object is an open stored image. It is safe for use by one goroutine.
type Object interface {
	io.ReadSeekCloser
	// Size is the image's length in bytes.
	Size() int64
	// ModTime is when the image was first stored.
	ModTime() time.Time
}

// Store is a content-addressed image store. Implementations are safe for
// concurrent use.
type Store interface {
	// PublishFile makes the complete file at srcPath available under
	// rec.SHA256, which the caller guarantees is the SHA-256 of its bytes. The
	// file is moved (renamed) when it is on the same file system, so srcPath
	// no longer exists after a nil error. Publish is crash-safe: the image is
	// durable before its record is written, and a reader sees either no image
	// or the complete image. If the hash is already stored, srcPath is removed,
	// the existing record is returned and deduped is true.
	PublishFile(ctx context.Context, srcPath string, rec Record) (stored Record, deduped bool, err error)
	// Get returns the record for sha. If no such image exists, ErrNotFound
	// must be returned (wrapped or not).
	Get(ctx context.Context, sha string) (Record, error)
	// Open opens the image bytes for sha. If no such image exists, ErrNotFound
	// must be returned (wrapped or not).
	Open(ctx context.Context, sha string) (Object, error)
	// List returns up to limit records, newest first. When before is a known
	// hash, listing starts after that image (cursor pagination); an unknown
	// before yields an empty list.
	List(ctx context.Context, before string, limit int) ([]Record, error)
	// Ready reports whether the store is usable (readable and writable).
	Ready(ctx context.Context) error
}

// ObjectPublisher is implemented by stores that can publish bytes already
// in object storage (a finished S3 upload) by server-side copy, without
// passing them through this process. The contract is PublishFile's, with the
// source object deleted instead of the source file.
type ObjectPublisher interface {
	PublishObject(ctx context.Context, srcBucket, srcKey string, rec Record) (stored Record, deduped bool, err error)
}
