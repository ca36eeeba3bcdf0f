package server

import (
	"context"
	"log/slog"
	"slices"

	expslog "golang.org/x/exp/slog"
)

// tusdHandler forwards tusd's log records (golang.org/x/exp/slog) to our
// log/slog logger, so they share its format and destination. Records below
// minLevel are dropped: tusd's per-request info lines duplicate our access
// log.
//
// tusd derives a logger with the method, path and request id for every
// request; WithAttrs only remembers them (pending, in order, from parent
// to child) and they are converted and handed to the destination when a
// record is actually logged, which at the default levels is almost never.
type tusdHandler struct {
	to       slog.Handler
	minLevel expslog.Level
	parent   *tusdHandler // holds earlier pending attributes, or nil
	pending  []expslog.Attr
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
	level := slog.Level(r.Level)
	if r.Message == "BodyReadError" && level > slog.LevelWarn {
		// tusd logs an upload body that ended early as an error, but it
		// is the client going away (or our own early rejection): the
		// case a resumable protocol exists for, not a server fault.
		level = slog.LevelWarn
		if !h.to.Enabled(ctx, level) {
			return nil
		}
	}
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
	r.Attrs(func(a expslog.Attr) bool {
		out.AddAttrs(convertAttr(a))
		return true
	})
	return h.resolved().Handle(ctx, out)
}

// resolved returns the destination with the pending attributes added.
func (h *tusdHandler) resolved() slog.Handler {
	var conv []slog.Attr
	for p := h; p != nil; p = p.parent {
		for i := len(p.pending) - 1; i >= 0; i-- {
			conv = append(conv, convertAttr(p.pending[i]))
		}
	}
	if len(conv) == 0 {
		return h.to
	}
	slices.Reverse(conv)
	return h.to.WithAttrs(conv)
}

func (h *tusdHandler) WithAttrs(attrs []expslog.Attr) expslog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return &tusdHandler{to: h.to, minLevel: h.minLevel, parent: h, pending: attrs}
}

func (h *tusdHandler) WithGroup(name string) expslog.Handler {
	return &tusdHandler{to: h.resolved().WithGroup(name), minLevel: h.minLevel}
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
