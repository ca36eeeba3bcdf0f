package uploadstore

import (
	"context"
	"crypto/sha1" //nolint:gosec // tus checksum extension algorithm, integrity only
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/tusimg/tusimg/pkg/httperr"
)

// ChecksumAlgorithms lists the tus checksum extension algorithms we accept,
// as advertised in Tus-Checksum-Algorithm.
const ChecksumAlgorithms = "sha1,sha256"

// ChunkChecksum is a parsed Upload-Checksum header: the digest the client
// says the request body has.
type ChunkChecksum struct {
	Alg string
	Sum []byte
}

// ErrChecksumMismatch is the tus checksum extension's 460.
var ErrChecksumMismatch = httperr.New(460, "checksum_mismatch",
	"the chunk does not match its Upload-Checksum; it was discarded, resend it")

// ParseChecksum parses an Upload-Checksum header value ("sha256 <base64>").
// An unknown algorithm or a malformed value is a 400.
func ParseChecksum(v string) (ChunkChecksum, error) {
	alg, sum, ok := strings.Cut(strings.TrimSpace(v), " ")
	alg = strings.ToLower(alg)
	if alg != "sha1" && alg != "sha256" {
		return ChunkChecksum{}, httperr.Newf(http.StatusBadRequest, "bad_checksum",
			"Upload-Checksum algorithm %q is not supported (supported: %s)", clip(alg), ChecksumAlgorithms)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sum))
	if !ok || err != nil || len(b) != newChecksumHash(alg).Size() {
		return ChunkChecksum{}, httperr.New(http.StatusBadRequest, "bad_checksum",
			"Upload-Checksum must be an algorithm and the base64 digest of the request body")
	}
	return ChunkChecksum{Alg: alg, Sum: b}, nil
}

func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}

func newChecksumHash(alg string) hash.Hash {
	if alg == "sha1" {
		return sha1.New() //nolint:gosec
	}
	return sha256.New()
}

type checksumKey struct{}

// WithChecksum returns ctx carrying the checksum the request body must have.
func WithChecksum(ctx context.Context, c ChunkChecksum) context.Context {
	return context.WithValue(ctx, checksumKey{}, c)
}

func checksumFrom(ctx context.Context) (ChunkChecksum, bool) {
	c, ok := ctx.Value(checksumKey{}).(ChunkChecksum)
	return c, ok
}

// matches reports whether h's digest equals the expected one.
func (c ChunkChecksum) matches(h hash.Hash) bool {
	return subtle.ConstantTimeCompare(h.Sum(nil), c.Sum) == 1
}

// spoolVerified copies a chunk into an anonymous temp file while computing
// its checksum, for backends that cannot take back written bytes. ok is false
// on a mismatch (the file is then closed). The returned file is positioned at
// its start and removed when closed.
func spoolVerified(src io.Reader, want ChunkChecksum) (f *spoolFile, ok bool, err error) {
	tmp, err := os.CreateTemp("", "tusimg-chunk-*")
	if err != nil {
		return nil, false, fmt.Errorf("uploadstore: spool chunk: %w", err)
	}
	_ = os.Remove(tmp.Name()) // anonymous: gone when closed, even after a crash
	h := newChecksumHash(want.Alg)
	if _, err := io.Copy(io.MultiWriter(tmp, h), src); err != nil {
		tmp.Close()
		return nil, false, err
	}
	if !want.matches(h) {
		tmp.Close()
		return nil, false, nil
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("uploadstore: spool chunk: %w", err)
	}
	return &spoolFile{tmp}, true, nil
}

// spoolFile is a verified chunk on disk.
type spoolFile struct{ *os.File }
