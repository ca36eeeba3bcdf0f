package server

import (
	"context"
	"log/slog"

	expslog "golang.org/x/exp/slog"
)

// tusdHandler forwards tusd's log records (golang.org/x/exp/slog) to our
// log/slog logger, so they share its format and destination. Records below
// minLevel are dropped: tusd's per-request info lines duplicate our access
// log.
type tusdHandler struct {
	to       slog.Handler
	minLevel expslog.Level
}

func newTusdLogger(to *slog.Logger, debug bool) *expslog.Logger {
	min := expslog.LevelWarn
	if debug {
		min = expslog.LevelDebug
	}
	return expslog.New(&tusdHandler{to: to.Handler().WithAttrs([]slog.Attr{slog.String("component", "tusd")}), minLevel: min})
}

func (h *tusdHandler) Enabled(ctx context.Context, l expslog.Level) bool {
	return l >= h.minLevel && h.to.Enabled(ctx, slog.Level(l))
}

func (h *tusdHandler) Handle(ctx context.Context, r expslog.Record) error {
	out := slog.NewRecord(r.Time, slog.Level(r.Level), r.Message, r.PC)
	r.Attrs(func(a expslog.Attr) bool {
		out.AddAttrs(convertAttr(a))
		return true
	})
	return h.to.Handle(ctx, out)
}

func (h *tusdHandler) WithAttrs(attrs []expslog.Attr) expslog.Handler {
	conv := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		conv[i] = convertAttr(a)
	}
	return &tusdHandler{to: h.to.WithAttrs(conv), minLevel: h.minLevel}
}

func (h *tusdHandler) WithGroup(name string) expslog.Handler {
	return &tusdHandler{to: h.to.WithGroup(name), minLevel: h.minLevel}
}

func convertAttr(a expslog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == expslog.KindGroup {
		group := v.Group()
		conv := make([]any, len(group))
		for i, g := range group {
			conv[i] = convertAttr(g)
		}
		return slog.Group(a.Key, conv...)
	}
	return slog.Any(a.Key, v.Any())
}
