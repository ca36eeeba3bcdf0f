// Package config owns tusimg's configuration: one Config struct with safe
// defaults, its binding to command-line flags and TUSIMG_* environment
// variables, and Validate, which reports every problem at once.
//
// It does not open files, listen or start anything; pkg/server does.
package config

import (
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
