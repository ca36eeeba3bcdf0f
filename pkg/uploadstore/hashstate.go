package uploadstore

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
)

// hashState is the persisted progress of an upload's incremental SHA-256:
// the marshalled hasher covers exactly the first Offset bytes of the data.
// Until the leading bytes are judged, Prefix keeps them (at most SniffLen),
// so a backend need not read them back. Lost marks a state that fell behind
// the data on a backend that cannot re-read incomplete uploads: the hash is
// then computed from the finished data instead.
type hashState struct {
	Offset  int64  `json:"offset"`
	State   []byte `json:"state"`
	Sniffed string `json:"sniffed,omitempty"`
	Prefix  []byte `json:"prefix,omitempty"`
	Lost    bool   `json:"lost,omitempty"`
}

func newHash() hash.Hash { return sha256.New() }

// loadHash returns the hasher and state persisted for id, or a fresh hasher at
// offset 0 when there is none or it cannot be trusted.
func (s *Store) loadHash(ctx context.Context, id string) (hash.Hash, hashState) {
	h := newHash()
	var st hashState
	b, _, err := s.be.getSide(ctx, id, extHash)
	if err != nil || json.Unmarshal(b, &st) != nil || st.Offset < 0 {
		return h, hashState{}
	}
	if len(st.State) == 0 {
		return h, hashState{Sniffed: st.Sniffed, Prefix: st.Prefix}
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.State); err != nil {
		return newHash(), hashState{}
	}
	return h, st
}

// saveHash persists h and st (st.Offset must be what h covers). A torn write
// leaves an unparsable record, which loadHash treats as "start over".
func (s *Store) saveHash(ctx context.Context, id string, h hash.Hash, st hashState) error {
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return fmt.Errorf("uploadstore: marshal hash: %w", err)
	}
	st.State = state
	s.mu.Lock()
	delete(s.stateless, id)
	s.mu.Unlock()
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("uploadstore: encode hash state: %w", err)
	}
	return s.be.putSide(ctx, id, extHash, b, sideInPlace)
}

// catchUp makes h cover the first target bytes of the data, given that it
// now covers the first st.Offset bytes. It re-reads only the missing range,
// or everything when the state is ahead of the data (lost in a crash). On a
// backend that cannot read incomplete uploads it marks the state Lost
// instead, and the finished upload is hashed from its data.
func (s *Store) catchUp(ctx context.Context, id string, h hash.Hash, st *hashState, target int64, complete bool) error {
	if st.Offset == target && !st.Lost {
		return nil
	}
	if st.Offset > target || st.Lost {
		h.Reset()
		st.Offset = 0
	}
	r, closer, err := s.be.openData(ctx, id, target, complete)
	if errors.Is(err, errCannotRead) {
		st.Lost = true
		return nil
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	n, err := io.Copy(h, io.NewSectionReader(r, st.Offset, target-st.Offset))
	st.Offset += n
	if err != nil {
		return fmt.Errorf("uploadstore: re-hash data: %w", err)
	}
	if st.Offset != target {
		return fmt.Errorf("uploadstore: re-hash data: holds %d bytes, want %d", st.Offset, target)
	}
	st.Lost = false
	s.log.Info("upload.rehashed", "upload_id", id, "bytes", n)
	return nil
}
