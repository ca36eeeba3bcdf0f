// Package bench is a load generator for tus 1.0 servers and tusimg's image
// reads, built into the tusimg binary as "tusimg bench" (in the spirit of
// nats bench or redis-benchmark). It owns the workloads, the generated test
// images and the measurements; it does not start or inspect servers.
//
// Modes:
//   - Large: one upload of a large PNG in sequential PATCHes, timed from the
//     first byte to the final response.
//   - Small: many small uploads, concurrently (POST+PATCH, or POST with
//     creation-with-upload).
//   - Get: GET (or HEAD, or conditional GET answered 304) of /i/{sha256},
//     after uploading the images to read, or for given hashes.
//   - Gen: write distinct PNGs to a directory, named by their SHA-256, for
//     other servers to serve the same bytes.
//
// Uploads are real, distinct images: one noise PNG of about the requested
// size is generated per run, and every upload gets its own tEXt chunk, so
// each has its own SHA-256 and passes image checks. Only standard tus
// headers are relied on; tusimg's Image-Url and Image-Sha256 are reported
// when present. Every run is bounded by its count and by Options.Duration.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a run. Zero values take the defaults noted.
type Options struct {
	URL       string // server base URL, e.g. http://127.0.0.1:8080 (required)
	FilesPath string // tus creation endpoint, resolved against URL (default /files/)
	ImagePath string // image read prefix for Get, resolved against URL (default /i/)

	Count       int           // operations: uploads (Small), requests (Get); images (Gen)
	Concurrency int           // concurrent workers (default 1)
	Size        int64         // image size in bytes
	Chunk       int64         // PATCH size for Large (default 8 MiB)
	Duration    time.Duration // stop starting new operations after this long (0: count only)
	Timeout     time.Duration // per HTTP request (default 2m)

	CreationWithUpload bool // Small, Get's uploads: send the bytes with the POST

	Head        bool     // Get: HEAD instead of GET
	IfNoneMatch bool     // Get: conditional GET with If-None-Match: "<sha256>", expecting 304
	SHAs        []string // Get: read these, upload nothing
	Images      int      // Get: number of distinct images to upload first (default 64)
	UploadDir   string   // Get: upload the files in this directory instead of generated ones

	Seed uint64 // image noise and tEXt values; 0 picks a random one
}

func (o Options) withDefaults() Options {
	if o.FilesPath == "" {
		o.FilesPath = defaultFiles
	}
	if o.ImagePath == "" {
		o.ImagePath = defaultImages
	}
	o.Concurrency = max(o.Concurrency, 1)
	if o.Chunk <= 0 {
		o.Chunk = 8 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Images <= 0 {
		o.Images = 64
	}
	if o.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	return o
}

// deadline returns when new operations must stop (zero: never).
func (o Options) deadline(start time.Time) time.Time {
	if o.Duration <= 0 {
		return time.Time{}
	}
	return start.Add(o.Duration)
}

// pastDeadline reports whether d is set and has passed.
func pastDeadline(d time.Time) bool { return !d.IsZero() && time.Now().After(d) }

// runPool calls op(ctx, i) for i in [0, n) on conc workers until all are
// done, ctx ends or the deadline passes; operations already started are
// finished (each is bounded by the HTTP timeout). It reports whether it
// stopped before n.
func runPool(ctx context.Context, n, conc int, deadline time.Time, op func(ctx context.Context, i int)) bool {
	var next atomic.Int64
	var stopped atomic.Bool
	var wg sync.WaitGroup
	for range min(conc, max(n, 1)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if ctx.Err() != nil || pastDeadline(deadline) {
					stopped.Store(true)
					return
				}
				op(ctx, i)
			}
		})
	}
	wg.Wait()
	return stopped.Load()
}

// uploadName is the file name sent with upload i.
func uploadName(i int) string { return "bench-" + strconv.Itoa(i) + ".png" }
