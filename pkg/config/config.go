// Package config owns tusimg's configuration: one Config struct with safe
// defaults, its binding to command-line flags and TUSIMG_* environment
// variables, and Validate, which reports every problem at once.
//
// It does not open files, listen or start anything; pkg/server does.
package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/tusimg/tusimg/pkg/imagecheck"
)

// Config is the whole server configuration. The zero value is not valid; start
// from Default.
type Config struct {
	Listen        string // HTTP listen address
	MetricsListen string // separate listen address for /metrics; empty: same listener
	PprofListen   string // listen address for net/http/pprof; empty: off
	Data          string // data directory (uploads/, images/, tmp/)
	BaseURL       string // public base URL, e.g. https://img.example.com; empty: from the request
	TrustProxy    bool   // honour X-Forwarded-* / Forwarded headers

	MaxSize           ByteSize // largest accepted image
	MaxWidth          int
	MaxHeight         int
	MaxPixels         int64
	MaxFrames         int
	AllowedTypes      string // comma-separated MIME types
	FullDecode        bool
	FullDecodeMax     int64 // most frames x pixels fully decoded; above: header and structure checks only
	DecodeConcurrency int
	MaxMetadataSize   ByteSize // Upload-Metadata header size limit
	MaxMetadataKeys   int

	UploadTTL       time.Duration // incomplete uploads expire after this long without progress
	JanitorInterval time.Duration

	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	NetworkTimeout    time.Duration // per-read/write progress timeout for upload bodies
	ShutdownGrace     time.Duration
	MaxHeaderBytes    ByteSize
	LockTimeout       time.Duration
	// RequestGrace is how long, after an upload request ends or its client
	// goes, the store may still finish writing (tusd's
	// GracefulRequestCompletionTimeout). tusd keeps a goroutine and a timer
	// per request for this long, so at thousands of requests per second it
	// is memory. 0: 2s with the fs store (it writes as it reads), 10s with
	// s3 (tusd's default: a part upload may still be running).
	RequestGrace time.Duration

	MaxConcurrentUploads int     // upload requests (POST with body, PATCH) served at once; more get 503 + Retry-After
	CreateRate           float64 // uploads a client IP may create per second (token bucket); 0: off
	CreateBurst          int     // bucket size for CreateRate

	AuthSecret     string // HMAC key for signed upload tokens (>= 32 bytes); empty: see AuthSecretFile
	AuthSecretFile string // file holding AuthSecret (keeps it out of ps and env)
	AuthToken      string // static bearer token, the simple alternative to signed tokens
	AuthRead       bool   // also require a token to read images and records

	TLSCert     string // PEM certificate (chain) file; with TLSKey turns on HTTPS
	TLSKey      string // PEM private key file
	TLSClientCA string // PEM CA bundle: clients must present a certificate it signed (mTLS)

	Store       string // fs (default: everything under --data) or s3 (uploads and images in a bucket)
	S3Bucket    string
	S3Prefix    string // key prefix inside the bucket, e.g. tusimg/
	S3Endpoint  string // e.g. http://127.0.0.1:7070 for versitygw/MinIO; empty: AWS
	S3Region    string
	S3PathStyle bool
	S3Serve     string        // proxy (stream through tusimg) or redirect (presigned URL)
	S3CacheSize ByteSize      // local disk cache of served S3 images under DATA/s3cache; 0: off
	RedisURL    string        // redis://host:port/db for upload locks shared by instances
	LockTTL     time.Duration // how long a crashed instance's Redis locks outlive it

	CORSOrigins string // regular expression of allowed browser origins
	IETFDraft   bool   // accept the IETF resumable upload draft next to tus 1.0

	LogLevel  string // debug, info, warn, error
	LogFormat string // text or json

	// GCFloor is the heap size below which the garbage collector does not
	// run (a ballast allocated at start; 0: Go's default pacing).
	GCFloor ByteSize
}

// Default returns the zero-config defaults: listen on :8080, data under
// ./data, and the limits of DESIGN section 4.
func Default() Config {
	p := imagecheck.DefaultPolicy()
	return Config{
		Listen:               ":8080",
		Data:                 "./data",
		MaxSize:              ByteSize(p.MaxSize),
		MaxWidth:             p.MaxWidth,
		MaxHeight:            p.MaxHeight,
		MaxPixels:            p.MaxPixels,
		MaxFrames:            p.MaxFrames,
		AllowedTypes:         strings.Join(p.AllowedTypes, ","),
		FullDecode:           p.FullDecode,
		FullDecodeMax:        p.FullDecodeMaxPixels,
		DecodeConcurrency:    p.MaxConcurrentDecodes,
		MaxMetadataSize:      4 << 10,
		MaxMetadataKeys:      32,
		UploadTTL:            24 * time.Hour,
		JanitorInterval:      time.Minute,
		ReadHeaderTimeout:    10 * time.Second,
		IdleTimeout:          120 * time.Second,
		NetworkTimeout:       60 * time.Second,
		ShutdownGrace:        30 * time.Second,
		MaxHeaderBytes:       64 << 10,
		LockTimeout:          5 * time.Second,
		MaxConcurrentUploads: 1024,
		CreateBurst:          20,
		CORSOrigins:          ".*",
		Store:                "fs",
		S3Serve:              "proxy",
		S3CacheSize:          1 << 30,
		LockTTL:              10 * time.Second,
		LogLevel:             "info",
		LogFormat:            "text",
		GCFloor:              16 << 20,
	}
}

// Grace is RequestGrace, with 0 resolved for the store.
func (c Config) Grace() time.Duration {
	switch {
	case c.RequestGrace > 0:
		return c.RequestGrace
	case c.Store == "s3":
		return 10 * time.Second
	default:
		return 2 * time.Second
	}
}

// Policy returns the image check policy the config describes.
func (c Config) Policy() imagecheck.Policy {
	p := imagecheck.DefaultPolicy()
	p.MaxSize = int64(c.MaxSize)
	p.MaxWidth, p.MaxHeight, p.MaxPixels = c.MaxWidth, c.MaxHeight, c.MaxPixels
	p.MaxFrames = c.MaxFrames
	p.MaxTotalPixels = 4 * c.MaxPixels
	p.AllowedTypes = splitList(c.AllowedTypes)
	p.FullDecode = c.FullDecode
	p.FullDecodeMaxPixels = c.FullDecodeMax
	p.MaxConcurrentDecodes = c.DecodeConcurrency
	return p
}

// CORSRegexp compiles CORSOrigins, anchored so a partial match is not enough.
func (c Config) CORSRegexp() (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + c.CORSOrigins + ")$")
}

// Validate reports every problem of c at once, each naming its flag and
// environment variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s (%s): %s", flag, envName(flag), fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "invalid address %q, want host:port such as :8080", c.Listen)
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			bad("metrics-listen", "invalid address %q, want host:port such as 127.0.0.1:9090", c.MetricsListen)
		}
	}
	if c.PprofListen != "" {
		if _, _, err := net.SplitHostPort(c.PprofListen); err != nil {
			bad("pprof-listen", "invalid address %q, want host:port such as 127.0.0.1:6060", c.PprofListen)
		}
	}
	if strings.TrimSpace(c.Data) == "" {
		bad("data", "must not be empty")
	}
	if c.BaseURL != "" && !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		bad("base-url", "must start with http:// or https://, got %q", c.BaseURL)
	}
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
	for _, p := range positive {
		if p.v <= 0 {
			bad(p.flag, "must be positive, got %d", p.v)
		}
	}
	durations := []struct {
		flag string
		v    time.Duration
	}{
		{"upload-ttl", c.UploadTTL}, {"janitor-interval", c.JanitorInterval}, {"read-header-timeout", c.ReadHeaderTimeout},
		{"idle-timeout", c.IdleTimeout}, {"network-timeout", c.NetworkTimeout}, {"lock-timeout", c.LockTimeout},
	}
	if c.RequestGrace < 0 {
		bad("request-grace", "must be 0 (the store's default) or a positive duration, got %s", c.RequestGrace)
	}
	for _, d := range durations {
		if d.v <= 0 {
			bad(d.flag, "must be a positive duration such as 30s or 24h, got %s", d.v)
		}
	}
	if c.AuthSecret != "" && len(c.AuthSecret) < 32 {
		bad("auth-secret", "must be at least 32 bytes (e.g. openssl rand -hex 32), got %d", len(c.AuthSecret))
	}
	if c.AuthSecret != "" && c.AuthSecretFile != "" {
		bad("auth-secret-file", "give either --auth-secret or --auth-secret-file, not both")
	}
	if c.AuthToken != "" && len(c.AuthToken) < 16 {
		bad("auth-token", "must be at least 16 characters, got %d", len(c.AuthToken))
	}
	if c.AuthRead && c.AuthSecret == "" && c.AuthSecretFile == "" && c.AuthToken == "" {
		bad("auth-read", "needs --auth-secret, --auth-secret-file or --auth-token")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls-cert", "--tls-cert and --tls-key go together")
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		bad("tls-client-ca", "needs --tls-cert and --tls-key (mTLS is part of TLS)")
	}
	switch c.Store {
	case "fs":
	case "s3":
		if c.S3Bucket == "" {
			bad("s3-bucket", "is required with --store s3")
		}
		if c.S3Endpoint != "" && !strings.HasPrefix(c.S3Endpoint, "http://") && !strings.HasPrefix(c.S3Endpoint, "https://") {
			bad("s3-endpoint", "must be an http:// or https:// URL, got %q", c.S3Endpoint)
		}
	default:
		bad("store", "must be fs or s3, got %q", c.Store)
	}
	if c.S3Serve != "proxy" && c.S3Serve != "redirect" {
		bad("s3-serve", "must be proxy or redirect, got %q", c.S3Serve)
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		bad("redis-url", "must start with redis:// or rediss://")
	}
	if c.GCFloor < 0 || c.GCFloor > 4<<30 {
		bad("gc-floor", "must be between 0 (off) and 4GiB, got %d", c.GCFloor)
	}
	if c.S3CacheSize < 0 {
		bad("s3-cache-size", "must not be negative (0 turns the cache off), got %d", c.S3CacheSize)
	}
	if c.LockTTL < 100*time.Millisecond {
		bad("lock-ttl", "must be at least 100ms, got %s", c.LockTTL)
	}
	if c.CreateRate < 0 {
		bad("create-rate", "must not be negative (0 turns the limit off), got %g", c.CreateRate)
	}
	if c.ShutdownGrace < 0 {
		bad("shutdown-grace", "must not be negative, got %s", c.ShutdownGrace)
	}
	types := splitList(c.AllowedTypes)
	if len(types) == 0 {
		bad("allowed-types", "must name at least one of image/jpeg, image/png, image/gif, image/webp")
	}
	for _, t := range types {
		if imagecheck.ExtForType(t) == "" {
			bad("allowed-types", "%q is not a supported image type (use image/jpeg, image/png, image/gif, image/webp)", t)
		}
	}
	if _, err := c.CORSRegexp(); err != nil {
		bad("cors-origins", "invalid regular expression %q: %v", c.CORSOrigins, err)
	}
	if c.LogLevel != "debug" && c.LogLevel != "info" && c.LogLevel != "warn" && c.LogLevel != "error" {
		bad("log-level", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log-format", "must be text or json, got %q", c.LogFormat)
	}
	return errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func envName(flag string) string {
	return "TUSIMG_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}
