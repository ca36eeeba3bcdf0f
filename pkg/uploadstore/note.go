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
	if n, ok := ctx.Value(noteKey{}).(*Note); ok {
		return n
	}
	return &Note{} // nobody listens
}
