package hooks

import (
	"context"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
)

// RecoverReport counts what startup recovery did.
type RecoverReport struct {
	Orphans   int // data/hash files without an info file, removed
	Finished  int // complete but unpublished uploads, now published or rejected
	Abandoned int // sessions whose data is gone, ended as expired
	Leftovers int // files of already ended sessions, removed
}

// Recover repairs the upload area after a crash. Run it before serving:
// orphans are removed, an upload that was complete but not yet published is
// checked and published (or rejected) now, and leftovers of ended sessions
// are cleaned up.
func (h *Hooks) Recover(ctx context.Context) (RecoverReport, error) {
	var rep RecoverReport
	rep.Orphans = h.Uploads.Orphans(ctx)
	ids, err := h.Uploads.Sessions(ctx)
	if err != nil {
		return rep, err
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		h.recoverOne(ctx, id, &rep)
	}
	return rep, nil
}

func (h *Hooks) recoverOne(ctx context.Context, id string, rep *RecoverReport) {
	if _, ended := h.Uploads.Outcome(ctx, id); ended {
		if h.Uploads.Discard(ctx, id) == nil {
			rep.Leftovers++
		}
		return
	}
	info, err := h.Uploads.Info(ctx, id)
	if err != nil {
		if h.Uploads.Expire(ctx, handler.FileInfo{ID: id}) == nil {
			rep.Abandoned++
		}
		return
	}
	if !info.SizeIsDeferred && info.Offset == info.Size {
		if _, err := h.Finish(ctx, info); err != nil {
			h.Log.Warn("recover.finish", "upload_id", id, "error", err)
		}
		rep.Finished++
	}
}

// Sweep is one janitor pass at time now: sessions idle for longer than the
// upload TTL are expired (or, if complete but unpublished after an internal
// error, finished), skipping any upload a request holds; old outcome records
// are pruned. It returns how many sessions expired.
func (h *Hooks) Sweep(ctx context.Context, now time.Time) int {
	ids, err := h.Uploads.Sessions(ctx)
	if err != nil {
		h.Log.Error("janitor.list", "error", err)
		return 0
	}
	expired := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		idle, ok := h.Uploads.IdleFor(ctx, id, now)
		switch {
		case !ok:
		case idle > h.Uploads.TTL():
			if h.sweepOne(ctx, id) {
				expired++
			}
		case idle > stalePublish:
			h.finishStale(ctx, id)
		}
	}
	h.Metrics.Expired(expired)
	if n, err := h.Uploads.PruneOutcomes(ctx, now); err != nil || n > 0 {
		h.Log.Info("janitor.pruned_outcomes", "count", n, "error", err)
	}
	return expired
}

func (h *Hooks) sweepOne(ctx context.Context, id string) bool {
	unlock, ok := h.Locker.TryLock(id)
	if !ok {
		return false
	}
	defer unlock()
	info, err := h.Uploads.Info(ctx, id)
	if err != nil {
		// Unreadable (e.g. a create that failed half-way on a full disk):
		// idle past the TTL, so it goes.
		info = handler.FileInfo{ID: id}
	} else if !info.SizeIsDeferred && info.Offset == info.Size {
		_, _ = h.Finish(ctx, info)
		return false
	}
	if err := h.Uploads.Expire(ctx, info); err != nil {
		h.Log.Error("janitor.expire", "upload_id", id, "error", err)
		return false
	}
	h.Log.Info("upload.expired", "upload_id", id, "offset", info.Offset, "size", info.Size)
	return true
}

// stalePublish is how long a complete upload may wait unpublished (its
// pre-finish failed inside the server) before the janitor retries it.
const stalePublish = 30 * time.Second

// finishStale publishes a complete session whose pre-finish failed, unless a
// request holds it.
func (h *Hooks) finishStale(ctx context.Context, id string) {
	unlock, ok := h.Locker.TryLock(id)
	if !ok {
		return
	}
	defer unlock()
	info, err := h.Uploads.Info(ctx, id)
	if err != nil || info.SizeIsDeferred || info.Offset != info.Size {
		return
	}
	if _, err := h.Finish(ctx, info); err != nil {
		h.Log.Warn("janitor.finish", "upload_id", id, "error", err)
	}
}

// RunJanitor sweeps every interval until ctx ends.
func (h *Hooks) RunJanitor(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			h.Sweep(ctx, now)
		}
	}
}
