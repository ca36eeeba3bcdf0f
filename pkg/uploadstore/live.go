package uploadstore

import (
	"bytes"
	"context"
	"hash"

	"github.com/tus/tusd/v2/pkg/handler"
)

// A chunk's hash pipeline may still be hashing its last blocks when the
// request is answered: waiting for it would put a pause of up to a few
// milliseconds between every two PATCHes of a large upload, while the
// client waits for the answer to send the next chunk. Instead the pipeline
// finishes in the background and then saves the hash state, and the next
// chunk of the same upload takes over the hasher and queues its blocks
// behind (see liveHash). This is done only where this process is the only
// writer of the upload's data (the filesystem backend): with shared
// storage the next chunk may reach another instance, which reads the saved
// state instead.

// liveHash is the hasher of an upload whose last chunk is still being
// hashed in the background. done closes once h covers end bytes and the
// state was saved.
type liveHash struct {
	h    hash.Hash
	st   hashState // the state being saved (Offset == end), without State
	done <-chan struct{}
}

// handOff lets the pipeline of a chunk that ended well finish on its own,
// and keeps the hasher for the next chunk. It reports false (nothing done)
// when the chunk must be settled now: the backend is shared, there was no
// pipeline, the write failed, or the chunk completed the upload.
func (u *upload) handOff(ctx context.Context, t *teeReader, st hashState, info handler.FileInfo, offset, n int64, werr error) bool {
	s := u.store
	end := offset + n
	if !s.asyncHash || t.pipe == nil || werr != nil || t.n != n || t.lost || t.rejected != nil ||
		(!info.SizeIsDeferred && end == info.Size) {
		return false
	}
	next := t.nextState(st, end)
	next.Prefix = bytes.Clone(next.Prefix) // saved later; t.prefix goes back to a pool
	h, id, bg := t.h, u.id, context.WithoutCancel(ctx)
	live := &liveHash{h: h, st: next, done: t.pipe.done}
	s.mu.Lock()
	s.live[id] = live
	s.mu.Unlock()
	t.pipe.closeThen(func() {
		if err := s.saveHash(bg, id, h, next); err != nil {
			s.log.Warn("upload.hash_state_not_saved", "upload_id", id, "error", err)
		}
	})
	t.pipe = nil
	return true
}

// resume returns the hasher for a chunk at offset > 0: the live one when it
// stops exactly there (with the channel to wait on before using it), else
// the saved state.
func (s *Store) resume(ctx context.Context, id string, offset int64) (hash.Hash, hashState, <-chan struct{}) {
	if l := s.takeLive(id); l != nil {
		if l.st.Offset == offset {
			return l.h, l.st, l.done
		}
		<-l.done
	}
	h, st := s.loadHash(ctx, id)
	return h, st, nil
}

func (s *Store) takeLive(id string) *liveHash {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.live[id]
	delete(s.live, id)
	return l
}

// settle waits until no background hashing of id is left, its state saved.
func (s *Store) settle(id string) {
	if l := s.takeLive(id); l != nil {
		<-l.done
	}
}

// settleAll waits for every background hash of every upload.
func (s *Store) settleAll() {
	s.mu.Lock()
	live := s.live
	s.live = map[string]*liveHash{}
	s.mu.Unlock()
	for _, l := range live {
		<-l.done
	}
}
