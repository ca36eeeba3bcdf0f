package server

import (
	"context"
	"log/slog"
)

// requestLogger returns log with request_id=id on every record, like
// log.With("request_id", id).
func requestLogger(log *slog.Logger, id string) *slog.Logger {
	return slog.New(&idHandler{inner: log.Handler(), id: id})
}

// idHandler adds request_id to every record. Unlike With, it costs nothing
// until a record is logged: the text and JSON handlers pre-render With's
// attributes, and most requests log nothing at the configured level. The
// attribute is added when a record is handled, or when the logger is
// extended with With or WithGroup, in the same place With puts it.
type idHandler struct {
	inner slog.Handler
	id    string
}

func (h *idHandler) attrs() []slog.Attr { return []slog.Attr{slog.String("request_id", h.id)} }

func (h *idHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *idHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.inner.WithAttrs(h.attrs()).Handle(ctx, r)
}

func (h *idHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.inner.WithAttrs(append(h.attrs(), attrs...))
}

func (h *idHandler) WithGroup(name string) slog.Handler {
	return h.inner.WithAttrs(h.attrs()).WithGroup(name)
}
