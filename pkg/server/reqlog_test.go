package server

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"testing"

	expslog "golang.org/x/exp/slog"
)

// TestRequestLogger checks the request logger writes what
// log.With("request_id", id) writes, also when extended.
func TestRequestLogger(t *testing.T) {
	for name, use := range map[string]func(*slog.Logger){
		"record":     func(l *slog.Logger) { l.Info("m", "a", 1) },
		"with":       func(l *slog.Logger) { l.With("b", 2).Warn("m", "a", 1) },
		"with group": func(l *slog.Logger) { l.WithGroup("g").With("b", 2).Error("m", "a", 1) },
		"disabled":   func(l *slog.Logger) { l.Debug("m", "a", 1) },
	} {
		var want, got bytes.Buffer
		base := func(w *bytes.Buffer) *slog.Logger {
			return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "x")
		}
		use(base(&want).With("request_id", "r1"))
		use(requestLogger(base(&got), "r1"))
		if clean(got.String()) != clean(want.String()) {
			t.Errorf("%s: got %q, want %q", name, got.String(), want.String())
		}
	}
}

// TestTusdLogger checks tusd's records keep the attributes of its derived
// loggers, in order, and that records below the level are dropped.
func TestTusdLogger(t *testing.T) {
	var buf bytes.Buffer
	l := newTusdLogger(slog.New(slog.NewTextHandler(&buf, nil)), false)
	req := l.With("method", "PATCH", "path", "/x").With("requestId", "r1")
	req.InfoContext(context.Background(), "ChunkWriteStart", "offset", 0)
	req.WarnContext(context.Background(), "NetworkTimeoutError", "error", "boom")
	req.WithGroup("g").With("k", "v").Error("grouped", "n", 1)
	want := "level=WARN msg=NetworkTimeoutError component=tusd method=PATCH path=/x requestId=r1 error=boom\n" +
		"level=ERROR msg=grouped component=tusd method=PATCH path=/x requestId=r1 g.k=v g.n=1\n"
	if got := clean(buf.String()); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var _ expslog.Handler = (*tusdHandler)(nil)
}

var timeAttr = regexp.MustCompile(`time=\S+ `)

func clean(s string) string { return timeAttr.ReplaceAllString(s, "") }

// TestTusdBodyReadErrorIsAWarning: tusd's BodyReadError (the client went
// away) comes out at WARN, and not at all when the log level is error.
func TestTusdBodyReadErrorIsAWarning(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelError} {
		var buf bytes.Buffer
		l := newTusdLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})), false)
		l.ErrorContext(context.Background(), "BodyReadError", "error", "ERR_UNEXPECTED_EOF")
		l.ErrorContext(context.Background(), "other")
		want := "level=WARN msg=BodyReadError component=tusd error=ERR_UNEXPECTED_EOF\nlevel=ERROR msg=other component=tusd\n"
		if level == slog.LevelError {
			want = "level=ERROR msg=other component=tusd\n"
		}
		if got := clean(buf.String()); got != want {
			t.Errorf("level %v: got %q, want %q", level, got, want)
		}
	}
}
