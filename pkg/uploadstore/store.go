// Package uploadstore owns the upload area: it wraps a tusd store (the
// filestore, or the s3store for many instances) so that every chunk is fed
// to an incremental SHA-256 (state persisted next to the upload, so a
// resumed or restarted upload never re-reads what it hashed), sniffs the
// first bytes as soon as they arrive, verifies tus Upload-Checksum, and
// keeps an Outcome record after a session ends (completed, rejected,
// expired) so retried requests get the same answer.
//
// It does not judge images (the Sniff callback does), publish them (see
// contentstore) or route HTTP. Errors it hands to tusd never carry internal
// text (see Public).
package uploadstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tusimg/tusimg/pkg/httperr"
	"github.com/tusimg/tusimg/pkg/reqctx"
)

const (
	extInfo    = ".info"
	extHash    = ".hash"
	extOutcome = ".outcome"
	runMarker  = ".running"
)

// validID matches the upload ids tusd's filestore generates. Anything else is
// "not found" before any path is built from it.
var validID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Options configures a Store.
type Options struct {
	// Dir is the upload directory (DATA/uploads) of the filesystem backend.
	// Created 0750 if missing. Ignored by NewS3.
	Dir string
	// SniffLen is how many leading bytes Sniff wants (imagecheck.SniffLen).
	SniffLen int
	// Sniff judges the first SniffLen bytes (fewer when the upload is
	// smaller) as soon as they arrive. It returns the sniffed type or a
	// rejection (*httperr.Error). Nil disables early sniffing.
	Sniff func(prefix []byte) (string, error)
	// OnReject, if set, is called with the code of every early rejection.
	OnReject func(code string)
	// TTL is how long an incomplete upload lives without progress, and how
	// long an Outcome is kept.
	TTL time.Duration
	// Log receives store events. Required.
	Log *slog.Logger
}

// Store wraps a tusd store. It implements handler.DataStore,
// handler.TerminaterDataStore and handler.LengthDeferrerDataStore and is safe
// for concurrent use (tusd's locker serialises requests per upload).
type Store struct {
	be       backend
	sniffLen int
	sniff    func([]byte) (string, error)
	log      *slog.Logger
	ttl      time.Duration

	// OnReject, if set, is called with the code of every early rejection.
	OnReject func(code string)

	// asyncHash: the last blocks of a chunk may be hashed after its answer
	// (see liveHash); only where this process alone writes the data.
	asyncHash bool

	mu        sync.Mutex
	digests   map[string][32]byte  // finished, not yet published: id -> SHA-256
	live      map[string]*liveHash // chunks still being hashed in the background
	stateless map[string]struct{}  // created here, no hash state saved yet
	captured  map[string]*[]byte   // finished small uploads in memory (see capture.go)
}

// New opens (creating) a filesystem upload directory. If the previous process
// did not close the store cleanly, persisted hash states are reset, since
// bytes they describe may not have reached the disk; resumed uploads re-hash
// their data once.
func New(opts Options) (*Store, error) {
	be, err := newFSBackend(opts.Dir)
	if err != nil {
		return nil, err
	}
	s, err := newStore(be, opts)
	if s != nil {
		s.asyncHash = true
	}
	return s, err
}

func newStore(be backend, opts Options) (*Store, error) {
	if opts.Log == nil {
		return nil, errors.New("uploadstore: Options.Log is required")
	}
	s := &Store{be: be, sniffLen: opts.SniffLen, sniff: opts.Sniff, log: opts.Log,
		digests: map[string][32]byte{}, live: map[string]*liveHash{}, stateless: map[string]struct{}{}, captured: map[string]*[]byte{}, ttl: opts.TTL, OnReject: opts.OnReject}
	if s.ttl <= 0 {
		s.ttl = 24 * time.Hour
	}
	clean, err := be.start()
	if err != nil {
		return nil, err
	}
	if !clean {
		n := s.resetHashStates(context.Background())
		s.log.Warn("uploadstore.unclean_shutdown", "reset_hash_states", n)
	}
	return s, nil
}

// Close marks a clean shutdown. Call it after the HTTP server has stopped.
// Background hashing is waited for first, so that every state is saved.
func (s *Store) Close() error {
	s.settleAll()
	return s.be.stop()
}

// Ready reports whether the upload area is usable.
func (s *Store) Ready(ctx context.Context) error { return s.be.ready(ctx) }

// resetHashStates makes every persisted hash state start over (offset 0),
// keeping the sniff result and the session itself.
func (s *Store) resetHashStates(ctx context.Context) int {
	entries, _ := s.be.listSide(ctx, extHash)
	for _, e := range entries {
		_, st := s.loadHash(ctx, e.ID)
		_ = s.saveHash(ctx, e.ID, newHash(), hashState{Sniffed: st.Sniffed})
	}
	return len(entries)
}

// UseIn registers the store with a tusd composer as core, terminater and
// length deferrer. Concatenation and download are deliberately not offered.
func (s *Store) UseIn(c *handler.StoreComposer) {
	c.UseCore(s)
	c.UseTerminater(s)
	c.UseLengthDeferrer(s)
}

// Source names where a finished upload's bytes are, for publishing.
func (s *Store) Source(id string) DataSource { return s.be.dataSource(id) }

// OpenData reads the bytes of finished upload id (size bytes).
func (s *Store) OpenData(ctx context.Context, id string, size int64) (interface {
	ReadAt(p []byte, off int64) (int, error)
}, func() error, error) {
	if b := s.takeCapture(id); b != nil {
		if int64(len(*b)) == size {
			return newCapturedData(*b), func() error {
				releaseCapture(b) // once: a second release would take another upload's slot
				b = nil
				return nil
			}, nil
		}
		releaseCapture(b)
	}
	r, c, err := s.be.openData(ctx, id, size, true)
	if err != nil {
		return nil, nil, err
	}
	return r, c.Close, nil
}

// ValidID reports whether id has the form of an upload id.
func (s *Store) ValidID(id string) bool { return s.be.validID(id) }

// NewUpload implements handler.DataStore.
func (s *Store) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	if info.ID != "" && !s.be.validID(info.ID) {
		return nil, Public(ctx, fmt.Errorf("uploadstore: refusing id %q", info.ID))
	}
	info.Storage = nil // never let metadata choose a path
	if info.ID == "" {
		// We choose the (object) id, so a failed create can be cleaned up.
		info.ID = newObjectID()
	}
	objectID := info.ID
	up, err := s.be.core().NewUpload(ctx, info)
	if err == nil {
		info, err = up.GetInfo(ctx)
	}
	if err == nil && s.be.sessionsByHash() {
		err = s.saveHash(ctx, info.ID, newHash(), hashState{})
	} else if err == nil {
		s.markStateless(info.ID)
	}
	if err != nil {
		if rerr := s.be.removeData(ctx, objectID, false); rerr != nil {
			s.log.Warn("upload.create_cleanup", "upload_id", objectID, "error", rerr)
		}
		return nil, Public(ctx, err)
	}
	return &upload{Upload: up, store: s, id: info.ID}, nil
}

// GetUpload implements handler.DataStore. An ended session answers from its
// Outcome: completed uploads look finished (offset = size), rejected ones
// repeat their rejection to PATCH and answer 410 to other methods, expired
// ones answer 410.
func (s *Store) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	if !s.be.validID(id) {
		return nil, handler.ErrNotFound
	}
	note := noteFrom(ctx)
	up, err := s.be.core().GetUpload(ctx, id)
	var info handler.FileInfo
	if err == nil {
		// s3store's GetUpload is lazy: existence shows in GetInfo (cached
		// in the upload for tusd's own call).
		info, err = up.GetInfo(ctx)
	}
	if err == nil {
		note.Known, note.Info = true, info
		return &upload{Upload: up, store: s, id: id}, nil
	}
	if !errors.Is(err, handler.ErrNotFound) {
		return nil, Public(ctx, err)
	}
	o, oerr := s.readOutcome(ctx, id)
	if errors.Is(oerr, errNoOutcome) {
		return nil, handler.ErrNotFound
	}
	if oerr != nil {
		return nil, Public(ctx, oerr)
	}
	note.Known, note.Outcome = true, &o
	return outcomeUpload(ctx, s, o)
}

func outcomeUpload(ctx context.Context, s *Store, o Outcome) (handler.Upload, error) {
	switch o.State {
	case StateCompleted:
		return &endedUpload{store: s, o: o}, nil
	case StateRejected:
		if reqctx.From(ctx).Method == http.MethodPatch {
			return nil, TusError(ctx, &httperr.Error{Status: o.Status, Code: o.Code, Message: o.Message, Detail: o.Detail})
		}
		return nil, TusError(ctx, httperr.New(http.StatusGone, "upload_rejected", "this upload was rejected: "+o.Message).
			WithDetail("reason", o.Code))
	default:
		return nil, TusError(ctx, httperr.New(http.StatusGone, "upload_expired",
			"this upload expired after making no progress; start a new upload"))
	}
}

// AsTerminatableUpload implements handler.TerminaterDataStore.
func (s *Store) AsTerminatableUpload(up handler.Upload) handler.TerminatableUpload {
	return up.(terminatable)
}

// AsLengthDeclarableUpload implements handler.LengthDeferrerDataStore.
func (s *Store) AsLengthDeclarableUpload(up handler.Upload) handler.LengthDeclarableUpload {
	return up.(lengthDeclarable)
}

// Discard deletes every record of session id except its Outcome.
func (s *Store) Discard(ctx context.Context, id string) error { return s.remove(ctx, id) }

// remove deletes an upload session's data and hash state (not its outcome).
func (s *Store) remove(ctx context.Context, id string) error {
	return s.removeSession(ctx, id, false)
}

// removeSession removes id's data (unless published already moved it away)
// and records; a hash state known never to have been saved is not looked
// for.
func (s *Store) removeSession(ctx context.Context, id string, published bool) error {
	s.settle(id)
	releaseCapture(s.takeCapture(id))
	s.mu.Lock()
	delete(s.digests, id)
	_, noState := s.stateless[id]
	delete(s.stateless, id)
	s.mu.Unlock()
	errs := []error{s.be.removeData(ctx, id, published)}
	if !noState {
		errs = append(errs, s.be.delSide(ctx, id, extHash))
	}
	return errors.Join(errs...)
}

// maxStateless bounds the ids remembered as having no saved hash state.
const maxStateless = 1 << 16

// markStateless remembers that new upload id has no saved hash state yet.
func (s *Store) markStateless(id string) {
	s.mu.Lock()
	if len(s.stateless) < maxStateless {
		s.stateless[id] = struct{}{}
	}
	s.mu.Unlock()
}

// Reject ends a session as rejected: its bytes are deleted and an Outcome
// with e's status, code and message is kept.
func (s *Store) Reject(ctx context.Context, info handler.FileInfo, e *httperr.Error) error {
	o := Outcome{State: StateRejected, UploadID: info.ID, At: now(), Size: info.Size, Offset: info.Offset,
		Metadata: info.MetaData, Status: e.Status, Code: e.Code, Message: e.Message, Detail: e.Detail}
	if err := s.writeOutcome(ctx, o); err != nil {
		return err
	}
	return s.remove(ctx, info.ID)
}

// Complete ends a session as completed after its data was published (moved
// away) under sha: the Outcome is written first, then the leftovers removed.
func (s *Store) Complete(ctx context.Context, info handler.FileInfo, sha, url string) error {
	o := Outcome{State: StateCompleted, UploadID: info.ID, At: now(), Size: info.Size, Offset: info.Size,
		Metadata: info.MetaData, SHA256: sha, URL: url}
	if err := s.writeOutcome(ctx, o); err != nil {
		return err
	}
	return s.removeSession(ctx, info.ID, true)
}

// Digest returns the SHA-256 of a finished upload's size bytes. It comes from
// the incremental hash; only data the hash state does not cover (after a
// crash) is read.
func (s *Store) Digest(ctx context.Context, id string, size int64) ([32]byte, error) {
	s.mu.Lock()
	sum, ok := s.digests[id]
	s.mu.Unlock()
	if ok {
		return sum, nil
	}
	s.settle(id)
	h, st := s.loadHash(ctx, id)
	if err := s.catchUp(ctx, id, h, &st, size, true); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

func (s *Store) setDigest(id string, h hash.Hash) {
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	s.mu.Lock()
	s.digests[id] = sum
	s.mu.Unlock()
}

// newObjectID returns 32 random hex characters, the form tusd's stores use.
func newObjectID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
