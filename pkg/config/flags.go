package config

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// option binds one Config field to a flag and its TUSIMG_* environment twin.
type option struct {
	name  string
	usage string
	value flag.Value
}

// options lists every configurable field of c, in help order.
func (c *Config) options() []option {
	return []option{
		{"listen", "HTTP listen address", (*stringValue)(&c.Listen)},
		{"metrics-listen", "separate listen address for /metrics (empty: served on --listen)", (*stringValue)(&c.MetricsListen)},
		{"pprof-listen", "listen address for Go profiling (net/http/pprof); keep it on loopback (empty: off)", (*stringValue)(&c.PprofListen)},
		{"data", "data directory: uploads/, images/, tmp/ (created 0750)", (*stringValue)(&c.Data)},
		{"base-url", "public base URL used in absolute links, e.g. https://img.example.com (empty: from the request)", (*stringValue)(&c.BaseURL)},
		{"trust-proxy", "honour X-Forwarded-Host/Proto and Forwarded headers from a reverse proxy", (*boolValue)(&c.TrustProxy)},
		{"max-size", "largest accepted image (e.g. 50MiB, 2GiB)", &c.MaxSize},
		{"max-width", "largest accepted image width in pixels", (*intValue)(&c.MaxWidth)},
		{"max-height", "largest accepted image height in pixels", (*intValue)(&c.MaxHeight)},
		{"max-pixels", "largest accepted width x height", (*int64Value)(&c.MaxPixels)},
		{"max-frames", "most frames in an animated image", (*intValue)(&c.MaxFrames)},
		{"allowed-types", "comma-separated allowed image types (of image/jpeg, image/png, image/gif, image/webp)", (*stringValue)(&c.AllowedTypes)},
		{"full-decode", "fully decode every image before accepting it (catches truncated bodies)", (*boolValue)(&c.FullDecode)},
		{"full-decode-max-pixels", "images with more frames x pixels than this get every check but the full decode", (*int64Value)(&c.FullDecodeMax)},
		{"decode-concurrency", "most full decodes at once", (*intValue)(&c.DecodeConcurrency)},
		{"max-metadata-size", "largest Upload-Metadata header", &c.MaxMetadataSize},
		{"max-metadata-keys", "most Upload-Metadata keys", (*intValue)(&c.MaxMetadataKeys)},
		{"upload-ttl", "incomplete uploads expire after this long without progress", (*durationValue)(&c.UploadTTL)},
		{"janitor-interval", "how often expired uploads are removed", (*durationValue)(&c.JanitorInterval)},
		{"read-header-timeout", "time allowed to read request headers", (*durationValue)(&c.ReadHeaderTimeout)},
		{"idle-timeout", "keep-alive idle timeout", (*durationValue)(&c.IdleTimeout)},
		{"network-timeout", "an upload body read or response write that makes no progress for this long is cut", (*durationValue)(&c.NetworkTimeout)},
		{"shutdown-grace", "on SIGTERM/SIGINT, time in-flight requests get to finish", (*durationValue)(&c.ShutdownGrace)},
		{"max-header-bytes", "largest request header block", &c.MaxHeaderBytes},
		{"lock-timeout", "how long a request waits for an upload held by another request", (*durationValue)(&c.LockTimeout)},
		{"request-grace", "how long the store may finish writing after an upload request ends or its client goes (0: 2s with fs, 10s with s3)", (*durationValue)(&c.RequestGrace)},
		{"max-concurrent-uploads", "upload requests (PATCH, POST with a body) served at once; more get 503 with Retry-After", (*intValue)(&c.MaxConcurrentUploads)},
		{"create-rate", "uploads one client IP may create per second, as a token bucket (0: no limit); with --trust-proxy the IP comes from X-Forwarded-For", (*float64Value)(&c.CreateRate)},
		{"create-burst", "token bucket size for --create-rate", (*intValue)(&c.CreateBurst)},
		{"auth-secret", "HMAC key (at least 32 bytes) for upload tokens minted with 'tusimg token'; prefer the env var or --auth-secret-file", (*stringValue)(&c.AuthSecret)},
		{"auth-secret-file", "file holding the HMAC key for upload tokens", (*stringValue)(&c.AuthSecretFile)},
		{"auth-token", "static bearer token required for uploads (simple alternative to signed tokens)", (*stringValue)(&c.AuthToken)},
		{"auth-read", "also require a token to read images, records and the gallery", (*boolValue)(&c.AuthRead)},
		{"tls-cert", "PEM certificate file; with --tls-key serves HTTPS", (*stringValue)(&c.TLSCert)},
		{"tls-key", "PEM private key file", (*stringValue)(&c.TLSKey)},
		{"tls-client-ca", "PEM CA bundle; clients must present a certificate signed by it (mTLS)", (*stringValue)(&c.TLSClientCA)},
		{"store", "where uploads and images live: fs (under --data) or s3 (a bucket shared by many instances)", (*stringValue)(&c.Store)},
		{"s3-bucket", "S3 bucket (with --store s3); credentials come from the standard AWS environment/config chain", (*stringValue)(&c.S3Bucket)},
		{"s3-prefix", "key prefix inside the bucket", (*stringValue)(&c.S3Prefix)},
		{"s3-endpoint", "S3 endpoint URL for S3-compatible servers (empty: AWS)", (*stringValue)(&c.S3Endpoint)},
		{"s3-region", "S3 region (empty: from the AWS config, else us-east-1)", (*stringValue)(&c.S3Region)},
		{"s3-path-style", "address the bucket in the URL path (most S3-compatible servers need it)", (*boolValue)(&c.S3PathStyle)},
		{"s3-serve", "serve images from S3 by proxy (stream through tusimg) or redirect (presigned URL)", (*stringValue)(&c.S3Serve)},
		{"s3-cache-size", "local disk cache (under --data) of images served from S3, checked by hash; 0 turns it off", &c.S3CacheSize},
		{"redis-url", "Redis URL for upload locks shared by several instances (redis://host:6379/0)", (*stringValue)(&c.RedisURL)},
		{"lock-ttl", "Redis locks of a crashed instance free themselves after this long", (*durationValue)(&c.LockTTL)},
		{"cors-origins", "regular expression of browser origins allowed to upload (anchored)", (*stringValue)(&c.CORSOrigins)},
		{"ietf-draft", "also accept the IETF resumable upload draft protocol", (*boolValue)(&c.IETFDraft)},
		{"log-level", "debug, info, warn or error", (*stringValue)(&c.LogLevel)},
		{"log-format", "text or json", (*stringValue)(&c.LogFormat)},
		{"gc-floor", "heap size below which Go's garbage collector does not run: fewer collections while the live heap is small (about 4% of a GET), for up to about this much more memory under load; 0: Go's default", &c.GCFloor},
	}
}

// Load builds a Config from defaults, then TUSIMG_* environment variables
// (read through getenv), then the command-line args, which win. Help output
// and usage errors go to out. A request for help returns flag.ErrHelp.
func Load(name string, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts := c.options()
	for _, o := range opts {
		def := o.value.String()
		if v := getenv(envName(o.name)); v != "" {
			if err := o.value.Set(v); err != nil {
				return c, fmt.Errorf("%s=%q: %v", envName(o.name), v, err)
			}
		}
		fs.Var(o.value, o.name, fmt.Sprintf("%s (default %q, env %s)", o.usage, def, envName(o.name)))
	}
	fs.Usage = func() { printUsage(out, name, opts, Default()) }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp { // fs.Parse already printed the usage
			return c, err
		}
		return c, fmt.Errorf("%v (see %s --help)", err, name)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (see %s --help)", fs.Arg(0), name)
	}
	return c, nil
}

func printUsage(out io.Writer, name string, opts []option, def Config) {
	fmt.Fprintf(out, "Usage: %s [options]\n\nEvery option can also be set by its environment variable; flags win.\n\n", name)
	defaults := map[string]string{}
	for _, o := range def.options() {
		defaults[o.name] = o.value.String()
	}
	for _, o := range opts {
		fmt.Fprintf(out, "  --%s\n      %s\n      default %q, env %s\n", o.name, o.usage, defaults[o.name], envName(o.name))
	}
}

type stringValue string

func (v *stringValue) String() string     { return string(*v) }
func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }

type boolValue bool

func (v *boolValue) String() string { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("invalid boolean %q (use true or false)", s)
	}
	*v = boolValue(b)
	return nil
}

// IsBoolFlag lets "--trust-proxy" stand for "--trust-proxy=true".
func (v *boolValue) IsBoolFlag() bool { return true }

type intValue int

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("invalid integer %q", s)
	}
	*v = intValue(n)
	return nil
}

type int64Value int64

func (v *int64Value) String() string { return strconv.FormatInt(int64(*v), 10) }
func (v *int64Value) Set(s string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("invalid integer %q", s)
	}
	*v = int64Value(n)
	return nil
}

type float64Value float64

func (v *float64Value) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }
func (v *float64Value) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return fmt.Errorf("invalid number %q", s)
	}
	*v = float64Value(f)
	return nil
}

type durationValue time.Duration

func (v *durationValue) String() string { return time.Duration(*v).String() }
func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 30s, 5m, 24h)", s)
	}
	*v = durationValue(d)
	return nil
}
