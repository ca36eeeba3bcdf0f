package auth

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestMintVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok, err := Mint(secret, Claims{Subject: "alice", Expires: now.Add(time.Hour).Unix(), MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(secret, tok, now)
	if err != nil || c.Subject != "alice" || c.MaxSize != 1<<20 {
		t.Fatalf("verify: %+v %v", c, err)
	}
	bad := map[string]string{
		"expired":      tok,
		"other secret": tok,
		"tampered":     strings.Replace(tok, tok[len(prefix):len(prefix)+4], "AAAA", 1),
		"no prefix":    strings.TrimPrefix(tok, prefix),
		"truncated":    tok[:len(tok)-3],
		"empty":        "",
		"dots":         "tusimg1...",
	}
	for name, tk := range bad {
		at, key := now, secret
		if name == "expired" {
			at = now.Add(2 * time.Hour)
		}
		if name == "other secret" {
			key = []byte("another secret of at least 32 bytes!!")
		}
		if _, err := Verify(key, tk, at); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: err %v, want ErrUnauthorized", name, err)
		}
	}
	if _, err := Mint([]byte("short"), Claims{Subject: "a", Expires: 1}); err == nil {
		t.Error("short secret accepted")
	}
}

func TestAuthenticate(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v := &Verifier{Secret: secret, StaticToken: "s3cret-static", Now: func() time.Time { return now }}
	tok, _ := Mint(secret, Claims{Subject: "bob", Expires: now.Add(time.Minute).Unix()})
	cases := map[string]string{"Bearer " + tok: "bob", "Bearer s3cret-static": "static", "": "", "Bearer ": "", "Basic abc": "", "Bearer nope": ""}
	for h, want := range cases {
		r, _ := http.NewRequest("GET", "/", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		c, err := v.Authenticate(r)
		if want == "" {
			if err == nil {
				t.Errorf("%q accepted", h)
			}
			continue
		}
		if err != nil || c.Subject != want {
			t.Errorf("%q: %+v %v", h, c, err)
		}
	}
	if (&Verifier{}).Enabled() || !v.Enabled() {
		t.Error("Enabled wrong")
	}
}

// FuzzVerify: no input panics or verifies without the secret's signature.
func FuzzVerify(f *testing.F) {
	tok, _ := Mint(secret, Claims{Subject: "x", Expires: 1 << 40})
	for _, s := range []string{tok, "tusimg1.e30.", "tusimg1..", "", tok + "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Verify(secret, s, time.Unix(0, 0))
		if err == nil && s != tok {
			// Only a correctly signed token may verify.
			dot := strings.LastIndexByte(s, '.')
			if dot < 0 || s[:dot] != tok[:strings.LastIndexByte(tok, '.')] {
				t.Fatalf("verified a forged token %q: %+v", s, c)
			}
		}
	})
}
