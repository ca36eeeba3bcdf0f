// Package auth owns upload authentication: short-lived HMAC-SHA256 signed
// tokens that a backend mints for a user (tusimg token), a static bearer
// token as the simple alternative, and the check of a request's
// Authorization header. It decides who a request is (the subject); what a
// subject may touch (its own uploads) is enforced by hooks.
//
// Token format: "tusimg1.<base64url(JSON claims)>.<base64url(HMAC-SHA256 of
// the first two parts)>". Claims: sub (subject), exp (unix seconds), and
// optional max (largest upload in bytes).
package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tusimg/tusimg/pkg/httperr"
)

const prefix = "tusimg1."

// Claims is what a token says.
type Claims struct {
	Subject string `json:"sub"`
	Expires int64  `json:"exp"`
	MaxSize int64  `json:"max,omitempty"`
}

// ErrUnauthorized is the public error for a missing or bad credential.
var ErrUnauthorized = httperr.New(http.StatusUnauthorized, "unauthorized",
	"a valid upload token is required (Authorization: Bearer <token>)")

// ErrForbidden is the public error for another subject's upload.
var ErrForbidden = httperr.New(http.StatusForbidden, "forbidden", "this upload belongs to someone else")

// Mint signs claims with secret.
func Mint(secret []byte, c Claims) (string, error) {
	if len(secret) < 32 {
		return "", errors.New("auth: secret must be at least 32 bytes")
	}
	if c.Subject == "" || c.Expires == 0 {
		return "", errors.New("auth: token needs a subject and an expiry")
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("auth: encode claims: %w", err)
	}
	payload := prefix + base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(sign(secret, payload)), nil
}

func sign(secret []byte, payload string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Verify checks token's signature and expiry at now and returns its claims.
// Every failure is ErrUnauthorized (the reason is in the wrapped cause).
func Verify(secret []byte, token string, now time.Time) (Claims, error) {
	fail := func(why string) (Claims, error) {
		return Claims{}, ErrUnauthorized.WithCause(errors.New("auth: " + why))
	}
	if !strings.HasPrefix(token, prefix) || len(token) > 4096 {
		return fail("not a tusimg token")
	}
	dot := strings.LastIndexByte(token, '.')
	if dot <= len(prefix) {
		return fail("malformed token")
	}
	payload, sig := token[:dot], token[dot+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, sign(secret, payload)) {
		return fail("bad signature")
	}
	body, err := base64.RawURLEncoding.DecodeString(payload[len(prefix):])
	if err != nil {
		return fail("malformed claims")
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil || c.Subject == "" {
		return fail("malformed claims")
	}
	if now.Unix() >= c.Expires {
		return fail("expired")
	}
	return c, nil
}

// Verifier authenticates requests. The zero value (no secret, no static
// token) authenticates nobody; use Enabled to know whether auth is on.
type Verifier struct {
	Secret      []byte // HMAC key for signed tokens
	StaticToken string // a shared bearer token; its subject is "static"
	Now         func() time.Time
}

// Enabled reports whether any credential is configured.
func (v *Verifier) Enabled() bool { return v != nil && (len(v.Secret) > 0 || v.StaticToken != "") }

// Authenticate returns the claims of r's bearer token, or ErrUnauthorized.
func (v *Verifier) Authenticate(r *http.Request) (Claims, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return Claims{}, ErrUnauthorized
	}
	if v.StaticToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(v.StaticToken)) == 1 {
		return Claims{Subject: "static"}, nil
	}
	if len(v.Secret) == 0 {
		return Claims{}, ErrUnauthorized
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	return Verify(v.Secret, token, now())
}
