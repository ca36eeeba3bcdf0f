package uploadstore

import (
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
)

// hashState is the persisted progress of an upload's incremental SHA-256:
// the marshalled hasher covers exactly the first Offset bytes of the data.
type hashState struct {
	Offset  int64  `json:"offset"`
	State   []byte `json:"state"`
	Sniffed string `json:"sniffed,omitempty"`
}

// loadHash returns the hasher and state persisted for id, or a fresh hasher at
// offset 0 when there is none or it cannot be trusted.
func (s *Store) loadHash(id string) (hash.Hash, hashState) {
	h := sha256.New()
	var st hashState
	b, err := os.ReadFile(s.path(id, extHash))
	if err != nil || json.Unmarshal(b, &st) != nil || st.Offset < 0 {
		return h, hashState{}
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.State); err != nil {
		return sha256.New(), hashState{}
	}
	return h, st
}

// saveHash persists h as covering the first offset bytes. A torn write leaves
// an unparsable file, which loadHash treats as "start over".
func (s *Store) saveHash(id string, h hash.Hash, offset int64, sniffed string) error {
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return fmt.Errorf("uploadstore: marshal hash: %w", err)
	}
	b, err := json.Marshal(hashState{Offset: offset, State: state, Sniffed: sniffed})
	if err != nil {
		return fmt.Errorf("uploadstore: encode hash state: %w", err)
	}
	if err := os.WriteFile(s.path(id, extHash), b, s.filePerm); err != nil {
		return fmt.Errorf("uploadstore: write hash state: %w", err)
	}
	return nil
}

// catchUp makes h cover the first target bytes of the data file, given that it
// now covers the first st.Offset bytes. It re-reads only the missing range, or
// everything when the state is ahead of the file (data lost in a crash).
func (s *Store) catchUp(id string, h hash.Hash, st *hashState, target int64) error {
	if st.Offset == target {
		return nil
	}
	if st.Offset > target {
		h.Reset()
		st.Offset = 0
	}
	f, err := os.Open(s.path(id, ""))
	if err != nil {
		return fmt.Errorf("uploadstore: open data for hashing: %w", err)
	}
	defer f.Close()
	n, err := io.Copy(h, io.NewSectionReader(f, st.Offset, target-st.Offset))
	st.Offset += n
	if err != nil {
		return fmt.Errorf("uploadstore: re-hash data: %w", err)
	}
	if st.Offset != target {
		return fmt.Errorf("uploadstore: re-hash data: file holds %d bytes, want %d", st.Offset, target)
	}
	s.log.Info("upload.rehashed", "upload_id", id, "bytes", n)
	return nil
}
