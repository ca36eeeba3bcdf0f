package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/tusimg/tusimg/pkg/imagecheck"
)

// Validate reports every problem of c at once, each naming its flag and
// environment variable.
func (c Config) Validate() error {
	var p problems
	c.checkAddresses(&p)
	c.checkLimits(&p)
	c.checkSecurity(&p)
	c.checkStores(&p)
	c.checkFormats(&p)
	return errors.Join(p...)
}

// problems collects what Validate finds.
type problems []error

// bad records that the option flag is wrong, and why.
func (p *problems) bad(flag, format string, args ...any) {
	*p = append(*p, fmt.Errorf("--%s (%s): %s", flag, envName(flag), fmt.Sprintf(format, args...)))
}

// address checks a host:port option.
func (p *problems) address(flag, v, example string) {
	if _, _, err := net.SplitHostPort(v); err != nil {
		p.bad(flag, "invalid address %q, want host:port such as %s", v, example)
	}
}

func (c Config) checkAddresses(p *problems) {
	p.address("listen", c.Listen, ":8080")
	if c.MetricsListen != "" {
		p.address("metrics-listen", c.MetricsListen, "127.0.0.1:9090")
	}
	if c.PprofListen != "" {
		p.address("pprof-listen", c.PprofListen, "127.0.0.1:6060")
	}
	if strings.TrimSpace(c.Data) == "" {
		p.bad("data", "must not be empty")
	}
	if c.BaseURL != "" && !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		p.bad("base-url", "must start with http:// or https://, got %q", c.BaseURL)
	}
}

func (c Config) checkLimits(p *problems) {
	positive := []struct {
		flag string
		v    int64
	}{
		{"max-size", int64(c.MaxSize)}, {"max-width", int64(c.MaxWidth)}, {"max-height", int64(c.MaxHeight)},
		{"max-pixels", c.MaxPixels}, {"full-decode-max-pixels", c.FullDecodeMax}, {"max-frames", int64(c.MaxFrames)}, {"decode-concurrency", int64(c.DecodeConcurrency)},
		{"max-metadata-size", int64(c.MaxMetadataSize)}, {"max-metadata-keys", int64(c.MaxMetadataKeys)},
		{"max-header-bytes", int64(c.MaxHeaderBytes)}, {"max-concurrent-uploads", int64(c.MaxConcurrentUploads)},
		{"create-burst", int64(c.CreateBurst)},
	}
	for _, v := range positive {
		if v.v <= 0 {
			p.bad(v.flag, "must be positive, got %d", v.v)
		}
	}
	durations := []struct {
		flag string
		v    time.Duration
	}{
		{"upload-ttl", c.UploadTTL}, {"janitor-interval", c.JanitorInterval}, {"read-header-timeout", c.ReadHeaderTimeout},
		{"idle-timeout", c.IdleTimeout}, {"network-timeout", c.NetworkTimeout}, {"lock-timeout", c.LockTimeout},
	}
	for _, d := range durations {
		if d.v <= 0 {
			p.bad(d.flag, "must be a positive duration such as 30s or 24h, got %s", d.v)
		}
	}
	if c.RequestGrace < 0 {
		p.bad("request-grace", "must be 0 (the store's default) or a positive duration, got %s", c.RequestGrace)
	}
	if c.ShutdownGrace < 0 {
		p.bad("shutdown-grace", "must not be negative, got %s", c.ShutdownGrace)
	}
	if c.CreateRate < 0 {
		p.bad("create-rate", "must not be negative (0 turns the limit off), got %g", c.CreateRate)
	}
	if c.GCFloor < 0 || c.GCFloor > 4<<30 {
		p.bad("gc-floor", "must be between 0 (off) and 4GiB, got %d", c.GCFloor)
	}
}

func (c Config) checkSecurity(p *problems) {
	if c.AuthSecret != "" && len(c.AuthSecret) < 32 {
		p.bad("auth-secret", "must be at least 32 bytes (e.g. openssl rand -hex 32), got %d", len(c.AuthSecret))
	}
	if c.AuthSecret != "" && c.AuthSecretFile != "" {
		p.bad("auth-secret-file", "give either --auth-secret or --auth-secret-file, not both")
	}
	if c.AuthToken != "" && len(c.AuthToken) < 16 {
		p.bad("auth-token", "must be at least 16 characters, got %d", len(c.AuthToken))
	}
	if c.AuthRead && c.AuthSecret == "" && c.AuthSecretFile == "" && c.AuthToken == "" {
		p.bad("auth-read", "needs --auth-secret, --auth-secret-file or --auth-token")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		p.bad("tls-cert", "--tls-cert and --tls-key go together")
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		p.bad("tls-client-ca", "needs --tls-cert and --tls-key (mTLS is part of TLS)")
	}
}

func (c Config) checkStores(p *problems) {
	switch c.Store {
	case "fs":
	case "s3":
		if c.S3Bucket == "" {
			p.bad("s3-bucket", "is required with --store s3")
		}
		if c.S3Endpoint != "" && !strings.HasPrefix(c.S3Endpoint, "http://") && !strings.HasPrefix(c.S3Endpoint, "https://") {
			p.bad("s3-endpoint", "must be an http:// or https:// URL, got %q", c.S3Endpoint)
		}
	default:
		p.bad("store", "must be fs or s3, got %q", c.Store)
	}
	if c.S3Serve != "proxy" && c.S3Serve != "redirect" {
		p.bad("s3-serve", "must be proxy or redirect, got %q", c.S3Serve)
	}
	if c.S3CacheSize < 0 {
		p.bad("s3-cache-size", "must not be negative (0 turns the cache off), got %d", c.S3CacheSize)
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		p.bad("redis-url", "must start with redis:// or rediss://")
	}
	if c.LockTTL < 100*time.Millisecond {
		p.bad("lock-ttl", "must be at least 100ms, got %s", c.LockTTL)
	}
}

func (c Config) checkFormats(p *problems) {
	types := splitList(c.AllowedTypes)
	if len(types) == 0 {
		p.bad("allowed-types", "must name at least one of image/jpeg, image/png, image/gif, image/webp")
	}
	for _, t := range types {
		if imagecheck.ExtForType(t) == "" {
			p.bad("allowed-types", "%q is not a supported image type (use image/jpeg, image/png, image/gif, image/webp)", t)
		}
	}
	if _, err := c.CORSRegexp(); err != nil {
		p.bad("cors-origins", "invalid regular expression %q: %v", c.CORSOrigins, err)
	}
	if c.LogLevel != "debug" && c.LogLevel != "info" && c.LogLevel != "warn" && c.LogLevel != "error" {
		p.bad("log-level", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		p.bad("log-format", "must be text or json, got %q", c.LogFormat)
	}
}
