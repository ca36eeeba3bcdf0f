package bench

import (
	"context"
	"fmt"
	"time"
)

// Small uploads o.Count distinct PNGs of about o.Size bytes, o.Concurrency
// at a time, each as POST+PATCH or, with o.CreationWithUpload, as one POST
// carrying the bytes. Latency is per upload. Failed uploads are counted in
// the Result; the error is for a run that could not start.
func Small(ctx context.Context, o Options) (Result, error) {
	o = o.withDefaults()
	if o.Count < 0 {
		return Result{}, fmt.Errorf("bench: count %d is negative", o.Count)
	}
	img, err := NewPNG(o.Size, o.Seed)
	if err != nil {
		return Result{}, err
	}
	c, err := newClient(o)
	if err != nil {
		return Result{}, err
	}
	defer c.close()
	base := img.Bytes()
	rec := newRecorder("small", o.URL, o.Count, o.Concurrency)
	start := time.Now()
	stopped := runPool(ctx, o.Count, o.Concurrency, o.deadline(start), func(ctx context.Context, i int) {
		body, err := InsertText(base, textKeyword, fmt.Sprintf("seed %x upload %d", o.Seed, i))
		if err != nil {
			rec.fail(ctx, err)
			return
		}
		t0 := time.Now()
		a, err := c.upload(ctx, body, uploadName(i), o.CreationWithUpload)
		if err != nil {
			rec.fail(ctx, err)
			return
		}
		rec.ok(time.Since(t0), int64(len(body)), true, a.imageURL != "")
	})
	res := rec.finish(time.Since(start))
	res.StoppedEarly = stopped
	return res, nil
}
