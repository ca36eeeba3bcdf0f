package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseByteSize(t *testing.T) {
	ok := map[string]int64{"50MiB": 50 << 20, "2GiB": 2 << 30, "1048576": 1 << 20, "512KB": 512000, "1.5k": 1536,
		"10 mb": 10e6, "3T": 3 << 40, "7b": 7}
	for in, want := range ok {
		got, err := ParseByteSize(in)
		if err != nil || int64(got) != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "MiB", "1e400", "NaN"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", in)
		}
	}
	if s := ByteSize(50 << 20).String(); s != "50MiB" {
		t.Errorf("String = %q", s)
	}
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestValidateReportsAll checks every problem is reported at once, each
// naming its flag and env var.
func TestValidateReportsAll(t *testing.T) {
	c := Default()
	c.Listen = "nowhere"
	c.MaxWidth = -1
	c.UploadTTL = 0
	c.CORSOrigins = "(("
	c.LogFormat = "xml"
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--listen (TUSIMG_LISTEN)", "--max-width (TUSIMG_MAX_WIDTH)", "--upload-ttl (TUSIMG_UPLOAD_TTL)",
		"--cors-origins (TUSIMG_CORS_ORIGINS)", "--log-format (TUSIMG_LOG_FORMAT)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// TestLoadPrecedence: flags win over env, env over defaults.
func TestLoadPrecedence(t *testing.T) {
	env := map[string]string{"TUSIMG_MAX_SIZE": "2GiB", "TUSIMG_LISTEN": ":9000", "TUSIMG_TRUST_PROXY": "true"}
	c, err := Load("t", []string{"--listen", "127.0.0.1:1", "--upload-ttl", "1h"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1" || c.MaxSize != 2<<30 || c.UploadTTL != time.Hour || !c.TrustProxy || c.Data != "./data" {
		t.Fatalf("config %+v", c)
	}
	p := c.Policy()
	if p.MaxSize != 2<<30 || p.MaxTotalPixels != 4*c.MaxPixels {
		t.Fatalf("policy %+v", p)
	}
}

func TestCORSRegexpIsAnchored(t *testing.T) {
	c := Default()
	c.CORSOrigins = `https://app\.example\.com`
	re, err := c.CORSRegexp()
	if err != nil {
		t.Fatal(err)
	}
	if !re.MatchString("https://app.example.com") || re.MatchString("https://app.example.com.evil.test") {
		t.Fatal("CORS regexp is not anchored")
	}
}

// TestRequestGrace: 0 resolves per store, a set value wins, a negative one
// is refused by name.
func TestRequestGrace(t *testing.T) {
	c := Default()
	if g := c.Grace(); g != 2*time.Second {
		t.Errorf("fs default grace %v, want 2s", g)
	}
	c.Store = "s3"
	if g := c.Grace(); g != 10*time.Second {
		t.Errorf("s3 default grace %v, want 10s", g)
	}
	c.RequestGrace = 500 * time.Millisecond
	if g := c.Grace(); g != 500*time.Millisecond {
		t.Errorf("set grace %v, want 500ms", g)
	}
	c = Default()
	c.RequestGrace = -time.Second
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--request-grace (TUSIMG_REQUEST_GRACE)") {
		t.Errorf("negative grace: %v", err)
	}
}
