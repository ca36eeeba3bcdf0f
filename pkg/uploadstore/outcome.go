package uploadstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Outcome states of a finished upload session.
const (
	StateCompleted = "completed"
	StateRejected  = "rejected"
	StateExpired   = "expired"
)

// Outcome is the record kept after an upload session ends, so that a retried
// request, HEAD and the status API all get the same answer. It is kept for the
// outcome TTL and then removed by the janitor.
type Outcome struct {
	State    string            `json:"state"`
	UploadID string            `json:"upload_id"`
	At       time.Time         `json:"at"`
	Size     int64             `json:"size"`
	Offset   int64             `json:"offset"`
	Metadata map[string]string `json:"metadata,omitempty"`

	SHA256 string `json:"sha256,omitempty"` // completed
	URL    string `json:"url,omitempty"`    // completed

	Status  int            `json:"status,omitempty"`  // rejected
	Code    string         `json:"code,omitempty"`    // rejected
	Message string         `json:"message,omitempty"` // rejected
	Detail  map[string]any `json:"detail,omitempty"`  // rejected
}

// errNoOutcome is returned by readOutcome when the session has not ended.
var errNoOutcome = errors.New("uploadstore: no outcome")

func (s *Store) readOutcome(ctx context.Context, id string) (Outcome, error) {
	b, _, err := s.be.getSide(ctx, id, extOutcome)
	if errors.Is(err, errNoSide) {
		return Outcome{}, errNoOutcome
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("uploadstore: read outcome: %w", err)
	}
	var o Outcome
	if err := json.Unmarshal(b, &o); err != nil {
		return Outcome{}, fmt.Errorf("uploadstore: decode outcome %s: %w", id, err)
	}
	return o, nil
}

// writeOutcome stores o through a temp file and a rename, without fsyncs:
// after a process crash the record is whole or absent, and the session's
// .info is removed only after it, so a restart finds the outcome or the
// live session. Only a power loss may lose it: the session then reads as
// unknown (404), while what matters is durable elsewhere (a published
// image and its record are fsynced; a rejected upload's bytes are gone
// either way). Sparing the two fsyncs matters on a disk, where each is a
// journal commit.
func (s *Store) writeOutcome(ctx context.Context, o Outcome) error {
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("uploadstore: encode outcome: %w", err)
	}
	return s.be.putSide(ctx, o.UploadID, extOutcome, b, sideAtomic)
}

// Outcome returns the record of ended session id; ok is false while the
// session has not ended (or never existed).
func (s *Store) Outcome(ctx context.Context, id string) (o Outcome, ok bool) {
	if !s.be.validID(id) {
		return Outcome{}, false
	}
	o, err := s.readOutcome(ctx, id)
	return o, err == nil
}
