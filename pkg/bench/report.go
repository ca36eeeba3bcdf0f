package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
)

// WriteText writes r as a human-readable table.
func (r Result) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{k}, a...)...) }
	fmt.Fprintf(tw, "tusimg bench %s  %s  (concurrency %d)\n", r.Mode, r.URL, r.Concurrency)
	if r.Mode == "large" {
		row("image", "%dx%d PNG, %s in %s PATCHes", r.Width, r.Height, human(r.Size), human(r.Chunk))
		row("create (POST)", "%.1f ms", r.CreateMs)
		row("complete", "%v", r.Complete)
	}
	row("operations", "%d of %d%s", r.Ops, r.Planned, stoppedNote(r.StoppedEarly))
	if r.Mode == "large" || r.Mode == "small" {
		row("uploads", "%d (Image-Url on %d)", r.Uploads, r.ImageURLs)
	}
	row("bytes", "%s", human(r.Bytes))
	row("errors", "%d%s", r.Errors, errorBreakdown(r.ErrorsByStatus))
	row("wall time", "%.3f s", r.WallSeconds)
	row("throughput", "%.1f MB/s  %.1f ops/s", r.MBPerSec, r.OpsPerSec)
	what := "per operation"
	if r.Mode == "large" {
		what = "per PATCH"
	}
	if r.ClientCPUSeconds > 0 {
		row("bench CPU", "%.3f s (this process, user + system)", r.ClientCPUSeconds)
	}
	row("latency", "p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms (%s)", r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs, what)
	if r.Mode == "large" {
		if r.ImageURL != "" {
			row("time to Image-Url", "%.3f s  %s", r.TimeToImageURLs, r.ImageURL)
		} else {
			row("time to Image-Url", "no Image-Url in the final response")
		}
	}
	for i, e := range r.FirstErrors {
		row(fmt.Sprintf("error %d", i+1), "%s", e)
	}
	return tw.Flush()
}

func stoppedNote(stopped bool) string {
	if stopped {
		return " (stopped early: --duration reached or interrupted)"
	}
	return ""
}

func errorBreakdown(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	s := " ("
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s: %d", k, m[k])
	}
	return s + ")"
}

// human prints n bytes with a binary unit.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, u := float64(n), 0
	for f >= unit && u < 4 {
		f /= unit
		u++
	}
	return fmt.Sprintf("%.1f %ciB", f, " KMGT"[u])
}
