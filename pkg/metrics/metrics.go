// Package metrics owns tusimg's Prometheus collectors and their registry: our
// own tusimg_* metrics, tusd's handler counters, and the Go and process
// collectors. It uses its own registry (never the global one), so several
// servers can live in one process (tests).
//
// Label values always come from fixed sets: callers pass codes and routes,
// and anything outside the known set is counted as "other".
package metrics

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/prometheuscollector"
)

// Reasons is the fixed set of rejection reason labels.
var Reasons = []string{"too_large", "empty", "type_not_allowed", "extension_mismatch",
	"declared_type_mismatch", "corrupt_image", "dimensions_too_large", "too_many_frames",
	"trailing_data", "checksum_mismatch", "bad_metadata", "too_busy", "rate_limited", "other"}

// Types is the fixed set of image type labels.
var Types = []string{"jpeg", "png", "gif", "webp", "other"}

// Metrics holds every collector. Methods are safe for concurrent use.
type Metrics struct {
	reg             *prometheus.Registry
	published       *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	dedup           prometheus.Counter
	publishDuration prometheus.Histogram
	expired         prometheus.Counter
	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	serveBytes      prometheus.Counter
	inFlight        prometheus.Gauge
	reasons         map[string]bool
	publishedByType map[string]prometheus.Counter // the series of Types, resolved once
}

// New creates the registry with Go and process collectors and our metrics.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tusimg_images_published_total",
			Help: "Images accepted and published (including dedup hits), by type."}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tusimg_uploads_rejected_total",
			Help: "Uploads rejected by a check, by reason."}, []string{"reason"}),
		dedup: prometheus.NewCounter(prometheus.CounterOpts{Name: "tusimg_dedup_hits_total",
			Help: "Published uploads whose bytes were already stored."}),
		publishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tusimg_publish_duration_seconds",
			Help:    "Time from upload complete to published (checks and store).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{Name: "tusimg_uploads_expired_total",
			Help: "Incomplete uploads removed after the upload TTL."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tusimg_http_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tusimg_http_request_duration_seconds",
			Help: "HTTP request duration by route.", Buckets: prometheus.DefBuckets}, []string{"route"}),
		serveBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "tusimg_serve_bytes_total",
			Help: "Image bytes written by the read handler."}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tusimg_uploads_in_flight",
			Help: "Upload requests (POST/PATCH with a body) being processed now."}),
		reasons: set(Reasons),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.published, m.rejected, m.dedup, m.publishDuration, m.expired, m.requests, m.duration, m.serveBytes, m.inFlight)
	for _, r := range Reasons {
		m.rejected.WithLabelValues(r)
	}
	m.publishedByType = make(map[string]prometheus.Counter, len(Types))
	for _, t := range Types {
		m.publishedByType[t] = m.published.WithLabelValues(t)
	}
	return m
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// RegisterTusd adds tusd's own handler counters (tusd_*).
func (m *Metrics) RegisterTusd(h handler.Metrics) {
	m.reg.MustRegister(prometheuscollector.New(h))
}

// Registry returns the registry, e.g. for tests or extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil})
}

// Published counts an accepted image of the given type extension
// (jpg/jpeg, png, gif, webp).
func (m *Metrics) Published(ext string, deduped bool, seconds float64) {
	if ext == "jpg" {
		ext = "jpeg"
	}
	c, ok := m.publishedByType[ext]
	if !ok {
		c = m.publishedByType["other"]
	}
	c.Inc()
	if deduped {
		m.dedup.Inc()
	}
	m.publishDuration.Observe(seconds)
}

// Rejected counts a rejection by its error code.
func (m *Metrics) Rejected(code string) {
	if !m.reasons[code] {
		code = "other"
	}
	m.rejected.WithLabelValues(code).Inc()
}

// Expired counts n expired uploads.
func (m *Metrics) Expired(n int) { m.expired.Add(float64(n)) }

// Served counts n image bytes written.
func (m *Metrics) Served(n int64) { m.serveBytes.Add(float64(n)) }

// Request records one finished HTTP request. route must be one of the
// server's fixed route names.
func (m *Metrics) Request(route string, code int, seconds float64) {
	m.requests.WithLabelValues(route, codeLabel(code)).Inc()
	m.duration.WithLabelValues(route).Observe(seconds)
}

// Route returns the recorder of one route's requests: Route(r).Request(c, s)
// counts like Request(r, c, s), without looking the series up by their
// label values on every request. Safe for concurrent use.
func (m *Metrics) Route(route string) *Route { return &Route{m: m, route: route} }

// Route records the requests of one route; see Metrics.Route.
type Route struct {
	m        *Metrics
	route    string
	duration atomic.Pointer[prometheus.Observer]
	byCode   [600]atomic.Pointer[prometheus.Counter] // index 0: "other"
}

// Request records one finished request with status code and duration.
// A series is created on first use, as with Metrics.Request.
func (r *Route) Request(code int, seconds float64) {
	i := code
	if i < 100 || i > 599 {
		i = 0
	}
	c := r.byCode[i].Load()
	if c == nil {
		v := r.m.requests.WithLabelValues(r.route, codeLabel(code))
		c = &v
		r.byCode[i].Store(c)
	}
	(*c).Inc()
	d := r.duration.Load()
	if d == nil {
		v := r.m.duration.WithLabelValues(r.route)
		d = &v
		r.duration.Store(d)
	}
	(*d).Observe(seconds)
}

// UploadStarted and UploadDone track in-flight upload requests.
func (m *Metrics) UploadStarted() { m.inFlight.Inc() }

// UploadDone is the counterpart of UploadStarted.
func (m *Metrics) UploadDone() { m.inFlight.Dec() }

func codeLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	const digits = "0123456789"
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}
