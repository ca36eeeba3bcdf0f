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
}

type requestKey struct{}

// WithRequest returns ctx carrying an empty Note the store will fill and a
// fresh Progress that WriteChunk keeps up to date: WithNote and
// WithProgress in one allocation and one context value (every context
// value lookup walks the chain of values).
func WithRequest(ctx context.Context) (context.Context, *Note, *Progress) {
	st := &requestState{}
	return context.WithValue(ctx, requestKey{}, st), &st.note, &st.progress
}
