package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tusimg/tusimg/pkg/bench"
	"github.com/tusimg/tusimg/pkg/config"
)

const benchUsage = `tusimg bench: load generator for tus servers (tusimg, tusd, ...) and tusimg's image reads

Usage:
  tusimg bench large [options]   one large PNG upload in sequential PATCHes (MB/s, time to Image-Url)
  tusimg bench small [options]   many small PNG uploads, concurrently (uploads/s, latency)
  tusimg bench get [options]     GET, HEAD or 304 of /i/{sha256} (uploads the images to read first)
  tusimg bench gen --out DIR     write distinct PNGs named by their SHA-256, for other servers to serve

Every upload is a distinct, valid PNG. Runs stop at --count or --duration,
whichever comes first. Run "tusimg bench MODE --help" for a mode's options.
Exit status: 0 if every request succeeded, 1 if any failed, 2 on usage errors.
`

// benchFlags are the parsed options of one bench run.
type benchFlags struct {
	opts              bench.Options
	size, chunk       config.ByteSize
	sha, out          string
	json              bool
	count, conc, imgs int
}

// newBenchFlags defines the flags of mode; ok is false for an unknown mode.
func newBenchFlags(mode string) (*flag.FlagSet, *benchFlags, bool) {
	fs := flag.NewFlagSet("tusimg bench "+mode, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &benchFlags{size: 200 << 10, chunk: 8 << 20}
	o := &f.opts
	if mode != "gen" {
		fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "server base URL")
		fs.DurationVar(&o.Duration, "duration", 10*time.Minute, "time bound: start no new request after this long")
		fs.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "timeout of each HTTP request")
		fs.BoolVar(&f.json, "json", false, "print the result as JSON (one key per line) instead of a table")
		fs.StringVar(&o.FilesPath, "files-path", "/files/", "tus creation endpoint (tusimg and tusd: /files/)")
	}
	switch mode {
	case "large":
		f.size = 1 << 30
		fs.Var(&f.chunk, "chunk", "`size` of each PATCH (e.g. 8MiB)")
	case "small":
		fs.IntVar(&f.count, "count", 2000, "number of uploads")
		fs.IntVar(&f.conc, "concurrency", 32, "concurrent uploads")
		fs.BoolVar(&o.CreationWithUpload, "creation-with-upload", false, "send the bytes with the POST instead of POST+PATCH")
	case "get":
		fs.IntVar(&f.count, "count", 20000, "number of requests")
		fs.IntVar(&f.conc, "concurrency", 32, "concurrent requests")
		fs.IntVar(&f.imgs, "images", 64, "distinct images of --size to upload first and read round-robin")
		fs.StringVar(&f.sha, "sha", "", "read these images instead of uploading: comma-separated SHA-256s, or @FILE with one per line")
		fs.StringVar(&o.UploadDir, "upload-dir", "", "upload the files of this directory (e.g. from gen) instead of generated images")
		fs.StringVar(&o.ImagePath, "image-path", "/i/", "path prefix of images, followed by the SHA-256")
		fs.BoolVar(&o.Head, "head", false, "send HEAD instead of GET")
		fs.BoolVar(&o.IfNoneMatch, "if-none-match", false, `send If-None-Match: "<sha256>" and expect 304`)
		fs.BoolVar(&o.CreationWithUpload, "creation-with-upload", false, "upload with creation-with-upload")
	case "gen":
		fs.IntVar(&f.count, "count", 64, "number of images")
		fs.StringVar(&f.out, "out", "", "directory to write the images into (required)")
	default:
		return nil, nil, false
	}
	fs.Var(&f.size, "size", "approximate `size` of each image (e.g. 200KiB, 1GiB)")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of the image noise and texts (0: random, so every run uploads new images)")
	return fs, f, true
}

// benchCmd runs "tusimg bench MODE [options]".
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, benchUsage)
		return fmt.Errorf("%w: bench: missing mode", errUsage)
	}
	mode := args[0]
	if mode == "help" || mode == "-h" || mode == "--help" || mode == "-help" {
		fmt.Fprint(stdout, benchUsage)
		return nil
	}
	fs, f, ok := newBenchFlags(mode)
	if !ok {
		fmt.Fprint(stderr, benchUsage)
		return fmt.Errorf("%w: bench: unknown mode %q", errUsage, mode)
	}
	err := fs.Parse(args[1:])
	if errors.Is(err, flag.ErrHelp) {
		printBenchHelp(fs, stdout)
		return nil
	}
	if err == nil {
		err = f.finish(mode, fs.Args())
	}
	if err != nil {
		return fmt.Errorf("%w: tusimg bench %s: %v (see --help)", errUsage, mode, err)
	}
	if mode == "gen" {
		return benchGen(f, stdout)
	}
	return benchRun(ctx, mode, f, stdout, stderr)
}

func printBenchHelp(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "Usage: %s [options]\n\nOptions:\n", fs.Name())
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// finish checks the parsed flags and completes the options.
func (f *benchFlags) finish(mode string, rest []string) error {
	if len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q", rest[0])
	}
	o := &f.opts
	o.Size, o.Chunk, o.Count, o.Concurrency, o.Images = int64(f.size), int64(f.chunk), f.count, f.conc, f.imgs
	switch {
	case o.Size < 128:
		return fmt.Errorf("--size %d: want at least 128 bytes", o.Size)
	case mode == "large" && o.Chunk <= 0:
		return fmt.Errorf("--chunk %d: must be positive", o.Chunk)
	case f.count < 0 || (mode == "gen" && f.count == 0):
		return fmt.Errorf("--count %d: must be positive", f.count)
	case (mode == "small" || mode == "get") && f.conc < 1:
		return fmt.Errorf("--concurrency %d: must be at least 1", f.conc)
	case mode == "get" && f.imgs < 1:
		return fmt.Errorf("--images %d: must be at least 1", f.imgs)
	case mode == "gen" && f.out == "":
		return errors.New("--out is required")
	case o.Duration < 0 || (mode != "gen" && o.Timeout <= 0):
		return errors.New("--duration must not be negative and --timeout must be positive")
	}
	if f.sha == "" {
		return nil
	}
	var err error
	o.SHAs, err = readSHAs(f.sha)
	return err
}

// readSHAs parses a comma-separated list, or @FILE with one hash per line.
func readSHAs(s string) ([]string, error) {
	var fields []string
	if name, ok := strings.CutPrefix(s, "@"); ok {
		fh, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("--sha: %w", err)
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields = append(fields, sc.Text())
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("--sha: %w", err)
		}
	} else {
		fields = strings.Split(s, ",")
	}
	var shas []string
	for _, f := range fields {
		if f = strings.TrimSpace(f); f != "" {
			shas = append(shas, f)
		}
	}
	if len(shas) == 0 {
		return nil, errors.New("--sha: no hashes")
	}
	return shas, nil
}

// benchRun runs a load mode and prints its result; failed operations make
// the error (exit status 1) after the result is printed.
func benchRun(ctx context.Context, mode string, f *benchFlags, stdout, stderr io.Writer) error {
	run := map[string]func(context.Context, bench.Options) (bench.Result, error){
		"large": bench.Large, "small": bench.Small, "get": bench.Get}[mode]
	res, err := run(ctx, f.opts)
	if err != nil {
		return err
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	} else {
		err = res.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if res.Errors > 0 {
		for _, e := range res.FirstErrors {
			fmt.Fprintln(stderr, "tusimg bench:", e)
		}
		return fmt.Errorf("bench %s: %d of %d operations failed", mode, res.Errors, res.Ops+res.Errors)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("bench %s: interrupted", mode)
	}
	return nil
}

// benchGen writes the images and prints their names, one per line.
func benchGen(f *benchFlags, stdout io.Writer) error {
	names, err := bench.Gen(f.out, f.opts)
	if err != nil {
		return err
	}
	for _, n := range names {
		fmt.Fprintln(stdout, n)
	}
	return nil
}
