package uploadstore

import (
	"context"
	"errors"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
)

// Session states reported by Status besides the Outcome states.
const (
	StatePending    = "pending"
	StateInProgress = "in_progress"
)

// Status is the public state of an upload session (GET /api/v1/uploads/{id}).
type Status struct {
	ID        string     `json:"id"`
	State     string     `json:"state"`
	Offset    int64      `json:"offset"`
	Length    *int64     `json:"length"` // nil while the length is deferred
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	SHA256    string     `json:"sha256,omitempty"`
	URL       string     `json:"url,omitempty"`
	Error     *StatusErr `json:"error,omitempty"`
}

// StatusErr describes why a session was rejected.
type StatusErr struct {
	Status  int            `json:"status"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Detail  map[string]any `json:"detail,omitempty"`
}

// ErrUnknown is returned by Status for an id that never existed or whose
// record is gone.
var ErrUnknown = errors.New("uploadstore: unknown upload")

// Status reports the state of session id.
func (s *Store) Status(ctx context.Context, id string) (Status, error) {
	if !s.be.validID(id) {
		return Status{}, ErrUnknown
	}
	if info, err := s.Info(ctx, id); err == nil {
		st := Status{ID: id, State: StateInProgress, Offset: info.Offset}
		if info.Offset == 0 {
			st.State = StatePending
		}
		if !info.SizeIsDeferred {
			st.Length = &info.Size
		}
		if exp, ok := s.ExpiresAt(ctx, id); ok {
			st.ExpiresAt = &exp
		}
		return st, nil
	}
	o, oerr := s.readOutcome(ctx, id)
	if errors.Is(oerr, errNoOutcome) {
		return Status{}, ErrUnknown
	}
	if oerr != nil {
		return Status{}, oerr
	}
	st := Status{ID: id, State: o.State, Offset: o.Offset, Length: &o.Size, SHA256: o.SHA256, URL: o.URL}
	if o.State == StateRejected {
		st.Error = &StatusErr{Status: o.Status, Code: o.Code, Message: o.Message, Detail: o.Detail}
	}
	return st, nil
}

// ExpiresAt is when session id expires if it makes no more progress: its last
// write plus the TTL. ok is false for an unknown session.
func (s *Store) ExpiresAt(ctx context.Context, id string) (t time.Time, ok bool) {
	last, ok := s.lastProgress(ctx, id)
	if !ok {
		return time.Time{}, false
	}
	return last.Add(s.ttl).UTC().Truncate(time.Second), true
}

// TTL is the configured idle lifetime of an incomplete upload.
func (s *Store) TTL() time.Duration { return s.ttl }

// lastProgress is the later of the last data write (if the backend knows)
// and the last hash state write (every chunk rewrites it).
func (s *Store) lastProgress(ctx context.Context, id string) (time.Time, bool) {
	_, last, err := s.be.getSide(ctx, id, extHash)
	found := err == nil
	if t, ok := s.be.lastWrite(ctx, id); ok {
		found = true
		if t.After(last) {
			last = t
		}
	}
	return last, found
}

// Sessions lists the ids of live (not ended) sessions.
func (s *Store) Sessions(ctx context.Context) ([]string, error) { return s.be.sessions(ctx) }

// Info returns the tusd view of a live session.
func (s *Store) Info(ctx context.Context, id string) (handler.FileInfo, error) {
	up, err := s.be.core().GetUpload(ctx, id)
	if err != nil {
		return handler.FileInfo{}, err
	}
	return up.GetInfo(ctx)
}

// Idle reports whether live session id has made no progress for the TTL.
func (s *Store) Idle(ctx context.Context, id string, at time.Time) bool {
	d, ok := s.IdleFor(ctx, id, at)
	return ok && d > s.ttl
}

// IdleFor is how long live session id has made no progress at time at.
func (s *Store) IdleFor(ctx context.Context, id string, at time.Time) (time.Duration, bool) {
	last, ok := s.lastProgress(ctx, id)
	return at.Sub(last), ok
}

// Expire ends live session id as expired: an Outcome is kept, the bytes are
// deleted. The caller holds the upload's lock.
func (s *Store) Expire(ctx context.Context, info handler.FileInfo) error {
	o := Outcome{State: StateExpired, UploadID: info.ID, At: now(), Size: info.Size, Offset: info.Offset, Metadata: info.MetaData}
	if err := s.writeOutcome(ctx, o); err != nil {
		return err
	}
	return s.remove(ctx, info.ID)
}

// PruneOutcomes removes Outcome records older than the TTL, returning how
// many were removed.
func (s *Store) PruneOutcomes(ctx context.Context, at time.Time) (int, error) {
	entries, err := s.be.listSide(ctx, extOutcome)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if at.Sub(e.ModTime) > s.ttl && s.be.delSide(ctx, e.ID, extOutcome) == nil {
			n++
		}
	}
	return n, nil
}

// Orphans removes hash states that belong to no live session and no ended
// one (left by a crash between tusd's writes and ours), returning how many
// were removed. Run it before serving.
func (s *Store) Orphans(ctx context.Context) int {
	live, err := s.be.sessions(ctx)
	if err != nil {
		return 0
	}
	isLive := make(map[string]bool, len(live))
	for _, id := range live {
		isLive[id] = true
	}
	entries, _ := s.be.listSide(ctx, extHash)
	n := 0
	for _, e := range entries {
		if !isLive[e.ID] && s.be.delSide(ctx, e.ID, extHash) == nil {
			n++
		}
	}
	return n + s.orphanData(ctx, isLive)
}

// OwnerKey is the metadata key holding the subject that created an upload
// (set by the server when authentication is on; clients may not set it).
const OwnerKey = "tusimg_owner"

// Owner returns the subject that created session id (live or ended), or ""
// when it has none or is unknown.
func (s *Store) Owner(ctx context.Context, id string) string {
	if !s.be.validID(id) {
		return ""
	}
	if info, err := s.Info(ctx, id); err == nil {
		return info.MetaData[OwnerKey]
	}
	if o, err := s.readOutcome(ctx, id); err == nil {
		return o.Metadata[OwnerKey]
	}
	return ""
}

func (s *Store) orphanData(ctx context.Context, live map[string]bool) int {
	if o, ok := s.be.(interface{ orphanData(map[string]bool) int }); ok {
		return o.orphanData(live)
	}
	return 0
}
