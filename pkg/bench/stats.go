package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"
)

// maxFirstErrors is how many error messages a Result keeps verbatim.
const maxFirstErrors = 5

// Result is what a run measured. Counts are of successful operations; an
// operation is one upload (large, small) or one request (get). JSON names
// are stable, one value per key, for scripts.
type Result struct {
	Mode        string `json:"mode"`
	URL         string `json:"url"`
	Concurrency int    `json:"concurrency"`
	Planned     int    `json:"planned"`    // operations asked for (--count, 1 for large)
	Ops         int    `json:"ops"`        // operations that succeeded
	Uploads     int    `json:"uploads"`    // uploads completed (large, small; get's upload phase not counted)
	ImageURLs   int    `json:"image_urls"` // final responses that carried Image-Url
	Bytes       int64  `json:"bytes"`      // payload bytes sent (uploads) or received (get)
	Errors      int    `json:"errors"`     // operations that failed
	// ErrorsByStatus counts failures by "METHOD status" ("PATCH 415") or
	// "METHOD transport" for connection errors and timeouts.
	ErrorsByStatus map[string]int `json:"errors_by_status"`
	FirstErrors    []string       `json:"first_errors"`
	StoppedEarly   bool           `json:"stopped_early"` // --duration reached (or interrupted) before the count

	WallSeconds float64 `json:"wall_s"`
	MBPerSec    float64 `json:"mb_per_s"` // 10^6 bytes per second of wall time
	OpsPerSec   float64 `json:"ops_per_s"`
	P50Ms       float64 `json:"p50_ms"` // latency of one operation (large: of one PATCH)
	P90Ms       float64 `json:"p90_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`

	// Set by large only.
	Size            int64   `json:"size,omitempty"`
	Chunk           int64   `json:"chunk,omitempty"`
	Width           int     `json:"width,omitempty"`
	Height          int     `json:"height,omitempty"`
	Complete        bool    `json:"complete,omitempty"`
	CreateMs        float64 `json:"create_ms,omitempty"`           // the POST
	TimeToImageURLs float64 `json:"time_to_image_url_s,omitempty"` // first byte to a final response with Image-Url
	ImageURL        string  `json:"image_url,omitempty"`

	// ClientCPUSeconds is the CPU time (user and system) this bench
	// process spent from the start of the run to its end: a load generator
	// sharing the server's machine takes that much from the server. 0 where
	// the system does not say.
	ClientCPUSeconds float64 `json:"client_cpu_s"`
}

// recorder collects per-operation outcomes from concurrent workers.
type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	res       Result
	cpu0      time.Duration // processCPU at the start
}

func newRecorder(mode, url string, planned, concurrency int) *recorder {
	return &recorder{
		cpu0:      processCPU(),
		latencies: make([]time.Duration, 0, min(planned, 1<<20)),
		res: Result{Mode: mode, URL: url, Planned: planned, Concurrency: concurrency,
			ErrorsByStatus: map[string]int{}, FirstErrors: []string{}},
	}
}

// ok records a successful operation of d that moved n payload bytes.
func (r *recorder) ok(d time.Duration, n int64, upload, imageURL bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latencies = append(r.latencies, d)
	r.res.Ops++
	r.res.Bytes += n
	if upload {
		r.res.Uploads++
	}
	if imageURL {
		r.res.ImageURLs++
	}
}

// latency records the duration of a step that is not an operation by
// itself (a PATCH of a large upload).
func (r *recorder) latency(d time.Duration) {
	r.mu.Lock()
	r.latencies = append(r.latencies, d)
	r.mu.Unlock()
}

// fail records a failed operation, unless ctx ended: an operation the user
// interrupted is not the server's failure.
func (r *recorder) fail(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Errors++
	r.res.ErrorsByStatus[errorKey(err)]++
	if len(r.res.FirstErrors) < maxFirstErrors {
		r.res.FirstErrors = append(r.res.FirstErrors, err.Error())
	}
}

// finish computes rates and percentiles over wall time.
func (r *recorder) finish(wall time.Duration) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	res.WallSeconds = wall.Seconds()
	if cpu := processCPU(); cpu > 0 {
		res.ClientCPUSeconds = (cpu - r.cpu0).Seconds()
	}
	if s := wall.Seconds(); s > 0 {
		res.MBPerSec = float64(res.Bytes) / 1e6 / s
		res.OpsPerSec = float64(res.Ops) / s
	}
	lat := slices.Clone(r.latencies)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.P50Ms, res.P90Ms, res.P99Ms = pct(lat, 50), pct(lat, 90), pct(lat, 99)
	if len(lat) > 0 {
		res.MaxMs = ms(lat[len(lat)-1])
	}
	return res
}

// pct is the nearest-rank percentile of sorted durations, in milliseconds.
func pct(sorted []time.Duration, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return ms(sorted[max(i, 1)-1])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// statusError is an unexpected HTTP answer.
type statusError struct {
	method string
	url    string
	code   int
	body   string // start of the response body
	want   int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: status %d, want %d: %s", e.method, e.url, e.code, e.want, e.body)
}

// requestError is a request that got no answer (connection, timeout) or an
// answer that breaks the protocol.
type requestError struct {
	method string
	err    error
}

func (e *requestError) Error() string { return e.method + ": " + e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// errorKey names the class of err for Result.ErrorsByStatus.
func errorKey(err error) string {
	var se *statusError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s %d", se.method, se.code)
	}
	var re *requestError
	if errors.As(err, &re) {
		var ne net.Error
		if errors.As(re.err, &ne) {
			return re.method + " transport"
		}
		return re.method + " protocol"
	}
	return "other"
}

// statusOf answers whether resp has the wanted status, else the error.
func statusOf(resp *http.Response, want int, body []byte) error {
	if resp.StatusCode == want {
		return nil
	}
	return &statusError{method: resp.Request.Method, url: resp.Request.URL.Path, code: resp.StatusCode,
		body: string(body), want: want}
}
