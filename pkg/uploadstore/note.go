package uploadstore

import (
	"context"

	"github.com/tus/tusd/v2/pkg/handler"
)

// Note is what the store learned about the upload a request touched, for the
// middleware that decorates tusd's answer without asking the store again.
type Note struct {
	Known   bool             // GetUpload found the session (live or ended)
	Info    handler.FileInfo // tusd's view, when Known and live
	Outcome *Outcome         // how the session ended, when it has
}

type noteKey struct{}

// WithNote returns ctx carrying an empty Note the store will fill.
func WithNote(ctx context.Context) (context.Context, *Note) {
	n := &Note{}
	return context.WithValue(ctx, noteKey{}, n), n
}

func noteFrom(ctx context.Context) *Note {
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
		return &st.note
	}
	if n, ok := ctx.Value(noteKey{}).(*Note); ok {
		return n
	}
	return &Note{} // nobody listens
}

// requestState is what WithRequest puts in a context.
type requestState struct {
	note     Note
	progress Progress
	bodyLen  int64 // the request's Content-Length, -1 when unknown
}

type requestKey struct{}

// WithRequest returns ctx carrying an empty Note the store will fill and a
// fresh Progress that WriteChunk keeps up to date: WithNote and
// WithProgress in one allocation and one context value (every context
// value lookup walks the chain of values). bodyLen is the request's
// Content-Length (-1: unknown), which tells WriteChunk how large the chunk
// will be before it reads it.
func WithRequest(ctx context.Context, bodyLen int64) (context.Context, *Note, *Progress) {
	st := &requestState{bodyLen: bodyLen}
	return context.WithValue(ctx, requestKey{}, st), &st.note, &st.progress
}

// chunkLen is how many bytes a WriteChunk at offset will see at most: what
// is left of the upload, and the request's Content-Length when known (0:
// unknown).
func chunkLen(ctx context.Context, info handler.FileInfo, offset int64) int64 {
	n := int64(0)
	if !info.SizeIsDeferred {
		n = info.Size - offset
	}
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok && st.bodyLen >= 0 {
		if n == 0 || st.bodyLen < n {
			n = st.bodyLen
		}
	}
	return max(n, 0)
}
