package uploadstore

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
)

// errNoSide is returned by a backend for a side record that does not exist.
var errNoSide = errors.New("uploadstore: no such side record")

// errCannotRead is returned by openData when the backend cannot read the
// bytes of an incomplete upload (S3 multipart uploads).
var errCannotRead = errors.New("uploadstore: data of an incomplete upload cannot be read")

// sideEntry is a listed side record.
type sideEntry struct {
	ID      string
	ModTime time.Time
}

// backend is where a Store keeps upload data (through a tusd store) and its
// own small side records (hash state, outcome) next to it: the local file
// system, or an S3 bucket shared by many instances.
type backend interface {
	// tusd's store and the optional parts it implements.
	core() handler.DataStore
	terminater() handler.TerminaterDataStore
	lengthDeferrer() handler.LengthDeferrerDataStore
	// validID reports whether id has the form the tusd store generates.
	validID(id string) bool

	getSide(ctx context.Context, id, ext string) ([]byte, time.Time, error)
	// putSide replaces a side record as mode says.
	putSide(ctx context.Context, id, ext string, b []byte, mode sideMode) error
	delSide(ctx context.Context, id, ext string) error
	listSide(ctx context.Context, ext string) ([]sideEntry, error)

	// openData reads the first size bytes of id's data; complete says the
	// upload is finished. Backends that cannot read incomplete uploads
	// return errCannotRead for them.
	openData(ctx context.Context, id string, size int64, complete bool) (io.ReaderAt, io.Closer, error)
	// canTruncate says whether truncate works. Where it does not, a chunk
	// with an Upload-Checksum is verified before it is written.
	canTruncate() bool
	// truncate cuts id's data back to size (to discard a chunk).
	truncate(ctx context.Context, id string, size int64) error
	// lastWrite is when id's data last changed, if the backend knows.
	lastWrite(ctx context.Context, id string) (time.Time, bool)
	// removeData deletes id's data and tusd's records of it, whatever state
	// they are in (also after the data was moved away by publishing, which
	// published says: a backend whose publishing moves the data need not
	// look for it).
	removeData(ctx context.Context, id string, published bool) error
	// sessionsByHash says whether sessions are listed from the hash states,
	// so a new upload needs one at once.
	sessionsByHash() bool
	// sessions lists the ids of live upload sessions.
	sessions(ctx context.Context) ([]string, error)
	// dataSource names the finished data for publishing: a local path, or
	// an object key in the backend's bucket.
	dataSource(id string) DataSource

	// start and stop bracket the process's use of the backend; start
	// reports whether the previous process stopped cleanly.
	start() (clean bool, err error)
	stop() error
	ready(ctx context.Context) error
}

// DataSource is where a finished upload's bytes are, for publishing.
type DataSource struct {
	Path   string // local file (filesystem uploads)
	Bucket string // S3 bucket (S3 uploads)
	Key    string // S3 object key (S3 uploads)
}

// idsOf returns the ids of entries.
func idsOf(entries []sideEntry) []string {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return ids
}

// sideMode is how putSide replaces a record on a file system (an S3 PUT is
// always whole, and durable once answered). Nothing in the upload area
// needs to survive a power loss: see writeOutcome.
type sideMode int

const (
	// sideInPlace rewrites the file: a crash in between may leave it empty
	// or torn, which reads as absent.
	sideInPlace sideMode = iota
	// sideAtomic writes a temp file and renames it: after a process crash
	// the old record or the new one is there, whole.
	sideAtomic
)
