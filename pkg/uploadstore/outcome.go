package uploadstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
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

func (s *Store) readOutcome(id string) (Outcome, error) {
	b, err := os.ReadFile(s.path(id, extOutcome))
	if errors.Is(err, os.ErrNotExist) {
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

// writeOutcome stores o durably: temp file, fsync, rename, fsync dir.
func (s *Store) writeOutcome(o Outcome) error {
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("uploadstore: encode outcome: %w", err)
	}
	final := s.path(o.UploadID, extOutcome)
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, s.filePerm)
	if err != nil {
		return fmt.Errorf("uploadstore: create outcome: %w", err)
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("uploadstore: write outcome: %w", err)
	}
	return syncDir(s.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("uploadstore: open dir for sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("uploadstore: sync dir: %w", err)
	}
	return nil
}

// Outcome returns the record of ended session id; ok is false while the
// session has not ended (or never existed).
func (s *Store) Outcome(id string) (o Outcome, ok bool) {
	if !ValidID(id) {
		return Outcome{}, false
	}
	o, err := s.readOutcome(id)
	return o, err == nil
}
