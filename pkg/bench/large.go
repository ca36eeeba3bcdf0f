package bench

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Large uploads one PNG of about o.Size bytes in sequential PATCHes of
// o.Chunk bytes. The image is generated as it is sent, straight into the
// transport's buffer, so its size is not limited by memory and the client
// costs the machine little CPU. Wall time runs from the first PATCH
// (the first byte) to the final response; the POST before it is reported
// as CreateMs. Latency percentiles are per PATCH. If the duration bound is
// reached, the upload stops after the current PATCH, incomplete.
func Large(ctx context.Context, o Options) (Result, error) {
	o = o.withDefaults()
	img, err := NewPNG(o.Size, o.Seed)
	if err != nil {
		return Result{}, err
	}
	c, err := newClient(o)
	if err != nil {
		return Result{}, err
	}
	defer c.close()
	text := fmt.Sprintf("seed %x large", o.Seed)
	total := img.EncodedSize() + int64(len(TextChunk(textKeyword, text)))
	rec := newRecorder("large", o.URL, 1, 1)
	begin := time.Now()
	deadline := o.deadline(begin)
	a, err := c.create(ctx, total, "bench-large.png", nil, 0)
	created := time.Since(begin)
	if err != nil {
		rec.fail(ctx, err)
		return largeResult(rec, o, img, total, created, 0, answer{}), nil
	}
	s := img.ReaderWithText(textKeyword, text)
	start := time.Now()
	var off int64
	var last answer
	for off < total {
		if ctx.Err() != nil || pastDeadline(deadline) {
			rec.res.StoppedEarly = true
			break
		}
		n := min(o.Chunk, total-off)
		t0 := time.Now()
		last, err = c.patch(ctx, a.location, off, io.LimitReader(s, n), n)
		rec.latency(time.Since(t0))
		if err != nil {
			rec.fail(ctx, err)
			break
		}
		off += n
	}
	rec.res.Bytes = off
	rec.res.StoppedEarly = rec.res.StoppedEarly || ctx.Err() != nil
	if off == total {
		rec.res.Ops, rec.res.Uploads, rec.res.Complete = 1, 1, true
	}
	return largeResult(rec, o, img, total, created, time.Since(start), last), nil
}

func largeResult(rec *recorder, o Options, img *PNG, total int64, created, wall time.Duration, last answer) Result {
	res := rec.finish(wall)
	res.Size, res.Chunk, res.Width, res.Height = total, o.Chunk, img.Width, img.Height
	res.CreateMs = ms(created)
	if res.Complete && last.imageURL != "" {
		res.ImageURLs = 1
		res.ImageURL = last.imageURL
		res.TimeToImageURLs = wall.Seconds()
	}
	return res
}
