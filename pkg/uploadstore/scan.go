package uploadstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	if !ValidID(id) {
		return Status{}, ErrUnknown
	}
	up, err := s.inner.GetUpload(ctx, id)
	if err == nil {
		info, _ := up.GetInfo(ctx)
		st := Status{ID: id, State: StateInProgress, Offset: info.Offset}
		if info.Offset == 0 {
			st.State = StatePending
		}
		if !info.SizeIsDeferred {
			st.Length = &info.Size
		}
		if exp, ok := s.ExpiresAt(id); ok {
			st.ExpiresAt = &exp
		}
		return st, nil
	}
	o, oerr := s.readOutcome(id)
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
func (s *Store) ExpiresAt(id string) (t time.Time, ok bool) {
	last, ok := s.lastProgress(id)
	if !ok {
		return time.Time{}, false
	}
	return last.Add(s.ttl).UTC().Truncate(time.Second), true
}

// TTL is the configured idle lifetime of an incomplete upload.
func (s *Store) TTL() time.Duration { return s.ttl }

func (s *Store) lastProgress(id string) (time.Time, bool) {
	var last time.Time
	found := false
	for _, ext := range []string{"", extInfo} {
		if fi, err := os.Stat(s.path(id, ext)); err == nil {
			found = true
			if fi.ModTime().After(last) {
				last = fi.ModTime()
			}
		}
	}
	return last, found
}

// Sessions lists the ids of sessions that have an info file (not ended).
func (s *Store) Sessions() ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(s.dir, "*"+extInfo))
	if err != nil {
		return nil, fmt.Errorf("uploadstore: list sessions: %w", err)
	}
	ids := make([]string, 0, len(paths))
	for _, p := range paths {
		if id := strings.TrimSuffix(filepath.Base(p), extInfo); ValidID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Info returns the tusd view of a live session.
func (s *Store) Info(ctx context.Context, id string) (handler.FileInfo, error) {
	up, err := s.inner.GetUpload(ctx, id)
	if err != nil {
		return handler.FileInfo{}, err
	}
	return up.GetInfo(ctx)
}

// Idle reports whether live session id has made no progress for the TTL.
func (s *Store) Idle(id string, at time.Time) bool {
	last, ok := s.lastProgress(id)
	return ok && at.Sub(last) > s.ttl
}

// Expire ends live session id as expired: an Outcome is kept, the bytes are
// deleted. The caller holds the upload's lock.
func (s *Store) Expire(ctx context.Context, info handler.FileInfo) error {
	o := Outcome{State: StateExpired, UploadID: info.ID, At: now(), Size: info.Size, Offset: info.Offset, Metadata: info.MetaData}
	if err := s.writeOutcome(o); err != nil {
		return err
	}
	return s.remove(info.ID)
}

// PruneOutcomes removes Outcome records older than the TTL and stray temp
// files, returning how many records were removed.
func (s *Store) PruneOutcomes(at time.Time) (int, error) {
	paths, err := filepath.Glob(filepath.Join(s.dir, "*"+extOutcome+"*"))
	if err != nil {
		return 0, fmt.Errorf("uploadstore: list outcomes: %w", err)
	}
	n := 0
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || at.Sub(fi.ModTime()) <= s.ttl {
			continue
		}
		if os.Remove(p) == nil && strings.HasSuffix(p, extOutcome) {
			n++
		}
	}
	return n, nil
}

// Orphans removes data and hash files that have no info file (left by a
// crash between tusd's two creates), returning how many were removed.
func (s *Store) Orphans() int {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		id := strings.TrimSuffix(e.Name(), extHash)
		if !ValidID(id) {
			continue
		}
		if _, err := os.Stat(s.path(id, extInfo)); errors.Is(err, os.ErrNotExist) {
			if os.Remove(filepath.Join(s.dir, e.Name())) == nil {
				n++
			}
		}
	}
	return n
}

// OwnerKey is the metadata key holding the subject that created an upload
// (set by the server when authentication is on; clients may not set it).
const OwnerKey = "tusimg_owner"

// Owner returns the subject that created session id (live or ended), or ""
// when it has none or is unknown.
func (s *Store) Owner(ctx context.Context, id string) string {
	if !ValidID(id) {
		return ""
	}
	if up, err := s.inner.GetUpload(ctx, id); err == nil {
		info, _ := up.GetInfo(ctx)
		return info.MetaData[OwnerKey]
	}
	if o, err := s.readOutcome(id); err == nil {
		return o.Metadata[OwnerKey]
	}
	return ""
}
