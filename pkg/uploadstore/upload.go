package uploadstore

import (
	"context"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tusimg/tusimg/pkg/httperr"
	"github.com/tusimg/tusimg/pkg/reqctx"
)

var now = time.Now

type terminatable interface {
	handler.TerminatableUpload
}

type lengthDeclarable interface {
	handler.LengthDeclarableUpload
}

// upload wraps a filestore upload with hashing and early sniffing.
type upload struct {
	handler.Upload
	store *Store
	id    string
	wrote bool // a WriteChunk through this upload succeeded
}

var (
	_ handler.Upload                 = (*upload)(nil)
	_ handler.TerminatableUpload     = (*upload)(nil)
	_ handler.LengthDeclarableUpload = (*upload)(nil)
)

// WriteChunk implements handler.Upload: the bytes are hashed as they pass to
// the tusd store, and the first SniffLen bytes are judged as soon as they
// are in. A rejected type ends the session right there (bytes deleted). With
// an Upload-Checksum, a mismatching chunk is discarded and answered 460.
func (u *upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	s := u.store
	info, err := u.Upload.GetInfo(ctx)
	if err != nil {
		return 0, Public(ctx, err)
	}
	var h hash.Hash
	var st hashState
	var prev <-chan struct{}
	if offset > 0 {
		h, st, prev = s.resume(ctx, u.id, offset)
	} else {
		// At offset 0 a fresh hasher is exact, whatever a stored state
		// (sniff result or Lost mark of bytes that are gone) says.
		s.settle(u.id)
		h = newHash()
	}
	if err := s.catchUp(ctx, u.id, h, &st, offset, false); err != nil {
		return 0, Public(ctx, err)
	}
	want, verify := checksumFrom(ctx)
	if verify && !s.be.canTruncate() {
		spool, ok, err := spoolVerified(src, want)
		if err != nil {
			return 0, Public(ctx, err)
		}
		if !ok {
			return 0, u.discard(ctx, offset)
		}
		defer spool.Close()
		src, verify = spool, false
	}
	t := &teeReader{r: src, h: h, lost: st.Lost, progress: progressFrom(ctx), expect: chunkLen(ctx, info, offset), prev: prev}
	if verify {
		t.chunk = newChecksumHash(want.Alg)
	}
	u.prepareSniff(t, st, info, offset)
	defer t.releasePrefix()
	if offset == 0 && !info.SizeIsDeferred {
		t.capture = startCapture(info.Size)
		defer func() { releaseCapture(t.capture) }() // unless kept below
	}
	n, werr := u.Upload.WriteChunk(ctx, offset, t)
	if !verify && u.handOff(ctx, t, st, info, offset, n, werr) {
		u.wrote = true
		return n, nil
	}
	t.closePipe()
	if t.rejected != nil {
		return n, u.reject(ctx, info, n+offset, t.rejected)
	}
	if verify && werr == nil && !want.matches(t.chunk) {
		return 0, u.discard(ctx, offset)
	}
	err = u.afterChunk(ctx, t, st, info, offset, n, werr)
	u.wrote = err == nil
	return n, Public(ctx, err)
}

// afterChunk persists the hash state (or, for the last chunk, keeps the
// digest for pre-finish) and returns the error to report.
func (u *upload) afterChunk(ctx context.Context, t *teeReader, st hashState, info handler.FileInfo, offset, n int64, werr error) error {
	s := u.store
	end := offset + n
	if t.n != n { // the store wrote fewer bytes than were hashed
		st = hashState{Lost: true, Sniffed: st.Sniffed}
		_ = s.saveHash(ctx, u.id, newHash(), st)
		return werr
	}
	next := t.nextState(st, end)
	if werr == nil && !info.SizeIsDeferred && end == info.Size && !st.Lost {
		// Finished: pre-finish runs next in this request. The state is not
		// saved; after a crash, Digest continues from the last saved state
		// over the data, which is complete by then.
		s.setDigest(u.id, t.h)
		if t.capture != nil && int64(len(*t.capture)) == info.Size {
			s.keepCapture(u.id, t.capture)
			t.capture = nil
		}
		return nil
	}
	if err := s.saveHash(ctx, u.id, t.h, next); err != nil && werr == nil {
		werr = err
	}
	return werr
}

// nextState is the hash state after this chunk, which ends at end, given the
// state st it started from: the sniff result, or the leading bytes collected
// so far while it is pending. Prefix aliases t's pooled buffer.
func (t *teeReader) nextState(st hashState, end int64) hashState {
	next := hashState{Offset: end, Sniffed: st.Sniffed, Lost: st.Lost}
	if t.sniffed != "" {
		next.Sniffed = t.sniffed
	}
	if next.Sniffed == "" && t.want > 0 {
		next.Prefix = t.prefix
	}
	return next
}

// prepareSniff arms t to collect the leading bytes when they have not been
// judged yet, starting from the prefix earlier chunks left in the state.
// When the state's prefix does not reach offset (a crash lost it), early
// sniffing is skipped: pre-finish judges the whole upload anyway.
func (u *upload) prepareSniff(t *teeReader, st hashState, info handler.FileInfo, offset int64) {
	s := u.store
	if s.sniff == nil || st.Sniffed != "" || offset >= int64(s.sniffLen) || int64(len(st.Prefix)) != offset {
		return
	}
	want := s.sniffLen
	if !info.SizeIsDeferred && info.Size < int64(want) {
		want = int(info.Size)
	}
	if want == 0 {
		return
	}
	t.want, t.sniff = want, s.sniff
	if b := prefixBufs.Get().(*[]byte); cap(*b) >= want {
		t.pooled = b
		t.prefix = append((*b)[:0], st.Prefix...)
	} else {
		prefixBufs.Put(b)
		t.prefix = append(make([]byte, 0, want), st.Prefix...)
	}
}

// discard drops a chunk that failed its checksum. Backends that can cut the
// data back do so; the others were handed the chunk only after it was
// verified (see spoolVerified), so nothing reached them. The hash state was
// not saved and still describes offset.
func (u *upload) discard(ctx context.Context, offset int64) error {
	if !u.store.be.canTruncate() {
		// nothing was written: the chunk was verified before (spoolVerified)
	} else if err := u.store.be.truncate(ctx, u.id, offset); err != nil {
		return Public(ctx, fmt.Errorf("uploadstore: discard chunk: %w", err))
	}
	reqctx.From(ctx).Log.InfoContext(ctx, "upload.checksum_mismatch", "upload_id", u.id, "offset", offset)
	return TusError(ctx, ErrChecksumMismatch)
}

func (u *upload) reject(ctx context.Context, info handler.FileInfo, offset int64, e *httperr.Error) error {
	info.Offset = offset
	if err := u.store.Reject(ctx, info, e); err != nil {
		return Public(ctx, err)
	}
	u.store.log.InfoContext(ctx, "upload.rejected_early", "upload_id", u.id, "code", e.Code)
	if u.store.OnReject != nil {
		u.store.OnReject(e.Code)
	}
	return TusError(ctx, e)
}

// FinishUpload implements handler.Upload: it makes sure the digest is known
// before the pre-finish hook asks for it.
func (u *upload) FinishUpload(ctx context.Context) error {
	// tusd tries to finish even after WriteChunk failed; a session that was
	// just rejected has nothing left to finish. After a successful write
	// the session is live: this request holds its lock and wrote no outcome.
	if !u.wrote {
		if o, ended := u.store.Outcome(ctx, u.id); ended {
			_, err := outcomeUpload(ctx, u.store, o)
			return err
		}
	}
	info, err := u.Upload.GetInfo(ctx)
	if err != nil {
		return Public(ctx, err)
	}
	if err := u.Upload.FinishUpload(ctx); err != nil {
		return Public(ctx, err)
	}
	_, err = u.store.Digest(ctx, u.id, info.Size)
	return Public(ctx, err)
}

// Terminate implements handler.TerminatableUpload.
func (u *upload) Terminate(ctx context.Context) error {
	return Public(ctx, u.store.remove(ctx, u.id))
}

// DeclareLength implements handler.LengthDeclarableUpload.
func (u *upload) DeclareLength(ctx context.Context, length int64) error {
	return Public(ctx, u.store.be.lengthDeferrer().AsLengthDeclarableUpload(u.Upload).DeclareLength(ctx, length))
}

// GetReader is refused: unchecked upload bytes are never served.
func (u *upload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	return nil, handler.ErrNotImplemented
}

// endedUpload stands for a completed session whose data was published.
type endedUpload struct {
	store *Store
	o     Outcome
}

func (e *endedUpload) GetInfo(ctx context.Context) (handler.FileInfo, error) {
	return handler.FileInfo{ID: e.o.UploadID, Size: e.o.Size, Offset: e.o.Size, MetaData: e.o.Metadata}, nil
}

func (e *endedUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	return 0, handler.ErrMismatchOffset
}

func (e *endedUpload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	return nil, handler.ErrNotImplemented
}

func (e *endedUpload) FinishUpload(ctx context.Context) error { return nil }

// Terminate forgets the session; the published image is never touched.
func (e *endedUpload) Terminate(ctx context.Context) error {
	return Public(ctx, e.store.be.delSide(ctx, e.o.UploadID, extOutcome))
}

func (e *endedUpload) DeclareLength(ctx context.Context, length int64) error {
	return handler.ErrInvalidUploadLength
}
