package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"
)

var shaRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Get reads images o.Count times, o.Concurrency at a time, round-robin over
// a set of images: o.SHAs if given; else it first uploads the files in
// o.UploadDir, or o.Images generated PNGs of about o.Size bytes, and reads
// those (by the SHA-256 it computed; a server's Image-Sha256 must agree).
// The upload phase is not part of the measurement, and any failure in it
// is the returned error. Each read is GET (status 200, the whole body
// read), HEAD with o.Head, or a conditional GET with o.IfNoneMatch that
// must answer 304.
func Get(ctx context.Context, o Options) (Result, error) {
	o = o.withDefaults()
	if o.Count < 0 {
		return Result{}, fmt.Errorf("bench: count %d is negative", o.Count)
	}
	c, err := newClient(o)
	if err != nil {
		return Result{}, err
	}
	defer c.close()
	shas, err := readTargets(ctx, c, o)
	if err != nil {
		return Result{}, err
	}
	urls := make([]string, len(shas))
	for i, s := range shas {
		u, err := c.base.Parse(o.ImagePath + s)
		if err != nil {
			return Result{}, fmt.Errorf("bench: image path %q: %w", o.ImagePath, err)
		}
		urls[i] = u.String()
	}
	method, want, mode := http.MethodGet, http.StatusOK, "get"
	switch {
	case o.Head:
		method, mode = http.MethodHead, "head"
	case o.IfNoneMatch:
		want, mode = http.StatusNotModified, "get-304"
	}
	rec := newRecorder(mode, o.URL, o.Count, o.Concurrency)
	start := time.Now()
	stopped := runPool(ctx, o.Count, o.Concurrency, o.deadline(start), func(ctx context.Context, i int) {
		k := i % len(urls)
		etag := ""
		if o.IfNoneMatch {
			etag = `"` + shas[k] + `"`
		}
		t0 := time.Now()
		n, err := c.image(ctx, urls[k], method, etag, want)
		if err != nil {
			rec.fail(ctx, err)
			return
		}
		rec.ok(time.Since(t0), n, false, false)
	})
	res := rec.finish(time.Since(start))
	res.StoppedEarly = stopped
	return res, nil
}

// readTargets returns the hashes Get reads, uploading images first unless
// o.SHAs names them.
func readTargets(ctx context.Context, c *client, o Options) ([]string, error) {
	if len(o.SHAs) > 0 {
		for _, s := range o.SHAs {
			if !shaRE.MatchString(s) {
				return nil, fmt.Errorf("bench: %q is not a SHA-256 (64 lowercase hex digits)", s)
			}
		}
		return o.SHAs, nil
	}
	imgs, err := uploadSet(o)
	if err != nil {
		return nil, err
	}
	shas := make([]string, len(imgs))
	var mu sync.Mutex
	var errs []error
	runPool(ctx, len(imgs), o.Concurrency, time.Time{}, func(ctx context.Context, i int) {
		sum := sha256.Sum256(imgs[i])
		shas[i] = hex.EncodeToString(sum[:])
		a, err := c.upload(ctx, imgs[i], uploadName(i), o.CreationWithUpload)
		if err == nil && a.imageSHA != "" && a.imageSHA != shas[i] {
			err = fmt.Errorf("server says Image-Sha256 %s, client computed %s", a.imageSHA, shas[i])
		}
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("bench: %d of %d uploads before reading failed, first: %w", len(errs), len(imgs), errs[0])
	}
	return shas, nil
}

// uploadSet returns the images Get uploads: the files of o.UploadDir, or
// o.Images distinct generated PNGs.
func uploadSet(o Options) ([][]byte, error) {
	if o.UploadDir != "" {
		ents, err := os.ReadDir(o.UploadDir)
		if err != nil {
			return nil, fmt.Errorf("bench: upload dir: %w", err)
		}
		var imgs [][]byte
		for _, e := range ents {
			if !e.Type().IsRegular() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(o.UploadDir, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("bench: upload dir: %w", err)
			}
			imgs = append(imgs, b)
		}
		if len(imgs) == 0 {
			return nil, fmt.Errorf("bench: upload dir %s has no files", o.UploadDir)
		}
		return imgs, nil
	}
	return distinct(o.Size, o.Images, o.Seed)
}

// distinct returns n PNGs of about size bytes, all different.
func distinct(size int64, n int, seed uint64) ([][]byte, error) {
	img, err := NewPNG(size, seed)
	if err != nil {
		return nil, err
	}
	base := img.Bytes()
	out := make([][]byte, n)
	for i := range out {
		if out[i], err = InsertText(base, textKeyword, fmt.Sprintf("seed %x image %d", seed, i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Gen writes o.Count distinct PNGs of about o.Size bytes into dir (created
// if missing), each named by its SHA-256 in lowercase hex without an
// extension, and returns the names, sorted. Files are written 0644 so a
// web server running as another user can serve them.
func Gen(dir string, o Options) ([]string, error) {
	o = o.withDefaults()
	if o.Count <= 0 {
		return nil, errors.New("bench: gen needs a positive count")
	}
	imgs, err := distinct(o.Size, o.Count, o.Seed)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	names := make([]string, 0, len(imgs))
	for _, b := range imgs {
		sum := sha256.Sum256(b)
		name := hex.EncodeToString(sum[:])
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}
