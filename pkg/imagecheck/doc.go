// Package imagecheck owns the validation of uploaded image bytes against a
// Policy: size limits, content sniffing against an allow-list of JPEG, PNG,
// GIF and WebP, agreement of the client's filename extension and declared
// type with the sniffed type, header dimensions, animation frame counts,
// trailing data after the image end (polyglots) and an optional full decode
// bounded by a semaphore.
//
// Every rejection is an *httperr.Error with a 4xx status, a stable code (see
// the Code constants) and a public message; internal causes travel only in
// Error.Cause. Limits are checked on the image header before any pixel is
// decoded, so a pixel bomb is refused without allocating its pixels.
//
// Only the JPEG, PNG, GIF and WebP decoders are linked in; no other format is
// ever accepted.
//
// The package does not speak HTTP, does not store, move or delete anything and
// does not hash: callers hand it bytes (a prefix, or a complete upload through
// an io.ReaderAt) plus client metadata and act on the Result or error.
package imagecheck
