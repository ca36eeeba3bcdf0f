// Package reqctx carries per-request facts (request id, HTTP method, logger)
// through a context.Context, so storage wrappers called by tusd deep inside a
// request can log with the request id and tailor their answers to the method.
// It owns nothing else.
package reqctx

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
)

type key struct{}

// Info is what a request carries.
type Info struct {
	ID     string       // request id, echoed in X-Request-ID and error bodies
	Method string       // HTTP method after tus's X-HTTP-Method-Override
	Log    *slog.Logger // logger with request_id set; never nil when Info came from With
	// BaseURL is the public scheme://host[:port] of this server as seen by
	// the client (from --base-url, or the request), without trailing slash.
	BaseURL string
	// Subject is the authenticated uploader ("" when auth is off), and
	// MaxSize the largest upload their token allows (0: the server's limit).
	Subject string
	MaxSize int64
}

// With returns ctx carrying info.
func With(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, key{}, info)
}

// From returns the Info in ctx, or a zero Info with slog.Default() as Log.
func From(ctx context.Context) Info {
	if info, ok := ctx.Value(key{}).(Info); ok {
		return info
	}
	return Info{Log: slog.Default()}
}

// NewID returns a fresh random request id (16 hex characters). It comes
// from math/rand/v2's generator (ChaCha8, seeded by the OS): unguessable
// enough for an id that is only echoed and logged, and unlike crypto/rand
// it costs no system call per request.
func NewID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}
