// Package server wires tusimg together: the embedded tusd handler with our
// upload store, locker and hooks, the content store, the read handler, the
// JSON API, metrics, the web page, and the HTTP server with its timeouts and
// graceful shutdown. It owns no logic of its own beyond wiring and routing.
package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/tusimg/tusimg/hooks"
	"github.com/tusimg/tusimg/pkg/auth"
	"github.com/tusimg/tusimg/pkg/config"
	"github.com/tusimg/tusimg/pkg/contentstore"
	"github.com/tusimg/tusimg/pkg/imagecheck"
	"github.com/tusimg/tusimg/pkg/limit"
	"github.com/tusimg/tusimg/pkg/metrics"
	"github.com/tusimg/tusimg/pkg/reqctx"
	"github.com/tusimg/tusimg/pkg/serve"
	"github.com/tusimg/tusimg/pkg/uploadstore"
	"github.com/tusimg/tusimg/web"
)

// Server is a configured tusimg instance. Create it with New, start it with
// Run (or use Handler in tests), and it cleans up when Run returns.
type Server struct {
	cfg         config.Config
	log         *slog.Logger
	accessLevel slog.Level
	metrics     *metrics.Metrics
	checker     *imagecheck.Checker
	uploads     *uploadstore.Store
	locker      hooks.Locker
	redis       *redis.Client
	images      contentstore.Store
	s3images    *contentstore.S3 // set with --store s3 (redirect serving)
	hooks       *hooks.Hooks
	tusd        *handler.Handler
	tmpDir      string
	handler     http.Handler
	auth        *auth.Verifier
	recovered   atomic.Bool // startup recovery done: uploads accepted
	lastBase    atomic.Pointer[baseURLEntry]
	busy        *limit.Concurrency
	creates     *limit.RateLimiter
	tls         *tls.Config
}

const errorLevel = slog.LevelError

// New validates cfg, prepares the data directory (DATA/uploads, images,
// tmp; 0750) and builds every part. It starts nothing: see Run.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, metrics: metrics.New(), accessLevel: slog.LevelInfo}
	if err := s.prepareData(); err != nil {
		return nil, err
	}
	var err error
	if s.checker, err = imagecheck.New(cfg.Policy()); err != nil {
		return nil, err
	}
	if err := s.openStores(); err != nil {
		return nil, err
	}
	origins, err := cfg.CORSRegexp()
	if err != nil {
		return nil, err
	}
	if s.auth, err = s.newVerifier(); err != nil {
		return nil, err
	}
	if s.tls, err = s.tlsConfig(); err != nil {
		return nil, err
	}
	s.hooks, err = hooks.New(hooks.Config{MaxMetadataSize: int(cfg.MaxMetadataSize), MaxMetadataKeys: cfg.MaxMetadataKeys,
		CORSOrigins: origins, CORSExpose: corsConfig(origins).ExposeHeaders, Auth: s.auth},
		hooks.Deps{Checker: s.checker, Uploads: s.uploads, Locker: s.locker, Images: s.images, Metrics: s.metrics, Log: log})
	if err != nil {
		return nil, err
	}
	if s.tusd, err = s.newTusd(); err != nil {
		return nil, err
	}
	s.metrics.RegisterTusd(s.tusd.Metrics)
	if err := s.newLimits(origins); err != nil {
		return nil, err
	}
	s.handler = limit.BodyDeadline(cfg.NetworkTimeout, s.routes())
	return s, nil
}

// prepareData creates the data layout and proves it is writable, so a bad
// --data fails at start with one clear line.
func (s *Server) prepareData() error {
	s.tmpDir = filepath.Join(s.cfg.Data, "tmp")
	for _, d := range []string{s.cfg.Data, filepath.Join(s.cfg.Data, "uploads"), filepath.Join(s.cfg.Data, "images"), s.tmpDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("--data %s: cannot create %s: %v", s.cfg.Data, d, unwrapPath(err))
		}
	}
	probe, err := os.CreateTemp(s.tmpDir, "probe-*")
	if err != nil {
		return fmt.Errorf("--data %s: directory is not writable: %v", s.cfg.Data, unwrapPath(err))
	}
	probe.Close()
	_ = os.Remove(probe.Name())
	for _, d := range []string{s.cfg.Data, filepath.Join(s.cfg.Data, "uploads"), filepath.Join(s.cfg.Data, "images")} {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o002 != 0 {
			return fmt.Errorf("--data %s: %s is world-writable (%s), so any local user could plant or swap images; fix it with: chmod o-w %s",
				s.cfg.Data, d, fi.Mode().Perm(), d)
		}
	}
	if os.Geteuid() == 0 {
		s.log.Warn("process.running_as_root", "hint", "run tusimg as an unprivileged user")
	}
	return nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// newTusd builds the embedded tusd handler on our store, locker and hooks.
func (s *Server) newTusd() (*handler.Handler, error) {
	composer := handler.NewStoreComposer()
	s.uploads.UseIn(composer)
	composer.UseLocker(s.locker)
	origins, err := s.cfg.CORSRegexp()
	if err != nil {
		return nil, err
	}
	cors := corsConfig(origins)
	base := "/files/"
	if s.cfg.BaseURL != "" {
		base = strings.TrimRight(s.cfg.BaseURL, "/") + "/files/"
	}
	hc := handler.Config{
		StoreComposer:              composer,
		BasePath:                   base,
		MaxSize:                    int64(s.cfg.MaxSize),
		DisableDownload:            true,
		DisableConcatenation:       true,
		Cors:                       &cors,
		RespectForwardedHeaders:    s.cfg.TrustProxy,
		EnableExperimentalProtocol: s.cfg.IETFDraft,
		NetworkTimeout:             s.cfg.NetworkTimeout,
		AcquireLockTimeout:         s.cfg.LockTimeout,
		// tusd holds a goroutine, a timer and the request's context
		// for this long after every request, whatever its end.
		GracefulRequestCompletionTimeout: s.cfg.Grace(),
		Logger:                           newTusdLogger(s.log, s.cfg.LogLevel == "debug"),
	}
	s.hooks.Install(&hc)
	return handler.NewHandler(hc)
}

// corsConfig is tusd's default CORS setup plus our headers.
func corsConfig(origins *regexp.Regexp) handler.CorsConfig {
	cors := handler.DefaultCorsConfig
	cors.AllowOrigin = origins
	cors.AllowMethods = "POST, HEAD, PATCH, OPTIONS, DELETE"
	cors.ExposeHeaders += ", Image-Sha256, Image-Url, Upload-Expires, X-Request-ID"
	cors.AllowHeaders += ", Upload-Checksum"
	return cors
}

// routes builds the mux. Every route has a fixed metrics name.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	tus := http.StripPrefix("/files/", s.hooks.Middleware(s.tusd))
	mux.Handle("/files/", s.wrap("tus", s.guard(s.whenRecovered(tus))))
	img := serve.New(s.images, s.serveOptions(), s.log)
	if s.cfg.AuthRead {
		mux.Handle("GET /i/{name}", s.wrap("image", s.readAuth(img)))
	} else {
		mux.Handle("GET /i/{name}", s.wrapLean("image", img))
	}
	mux.Handle("POST /api/v1/images", s.wrap("api_upload_image",
		s.guard(s.whenRecovered(s.requireAuth(http.HandlerFunc(s.postImage))))))
	mux.Handle("GET /api/v1/images", s.wrap("api_list_images", s.readAuth(http.HandlerFunc(s.listImages))))
	mux.Handle("GET /api/v1/images/{sha}", s.wrap("api_get_image", s.readAuth(http.HandlerFunc(s.getImage))))
	mux.Handle("GET /api/v1/uploads/{id}", s.wrap("api_upload_status", s.requireAuth(http.HandlerFunc(s.uploadStatus))))
	mux.Handle("GET /api/v1/config", s.wrap("api_config", http.HandlerFunc(s.publicConfig)))
	if s.cfg.MetricsListen == "" {
		mux.Handle("GET /metrics", s.wrap("metrics", s.metrics.Handler()))
	}
	mux.Handle("GET /healthz", s.wrap("health", http.HandlerFunc(s.healthz)))
	mux.Handle("GET /readyz", s.wrap("health", http.HandlerFunc(s.readyz)))
	mux.Handle("/", s.wrap("web", getOnly(web.Handler())))
	return mux
}

// Handler returns the server's root handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics returns the server's metrics (for tests and embedding).
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// Recover runs startup recovery of both stores. Run calls it; tests that use
// Handler directly may call it themselves.
func (s *Server) Recover(ctx context.Context) error {
	if fs, ok := s.images.(*contentstore.FS); ok {
		crep, err := fs.Recover(ctx)
		s.log.Info("recover.images", "images", crep.Images, "orphan_bytes", crep.OrphanBytes,
			"missing_bytes", crep.MissingBytes, "corrupt", crep.Corrupt, "temp_files", crep.TempFiles)
		if err != nil {
			return err
		}
	}
	rep, err := s.hooks.Recover(ctx)
	s.log.Info("recover.uploads", "orphans", rep.Orphans, "finished", rep.Finished, "abandoned", rep.Abandoned,
		"leftovers", rep.Leftovers)
	return err
}

// getOnly answers 405 to anything but GET and HEAD.
func getOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveOptions configures the read handler; with --s3-serve redirect it
// sends clients to presigned S3 URLs (valid 15 minutes, cached 10).
func (s *Server) serveOptions() serve.Options {
	o := serve.Options{OnServe: s.metrics.Served,
		RequestID: func(r *http.Request) string { return reqctx.From(r.Context()).ID }}
	if s.s3images != nil && s.cfg.S3Serve == "redirect" {
		o.Redirect = func(ctx context.Context, rec contentstore.Record) (string, time.Duration, error) {
			url, err := s.s3images.PresignGet(ctx, rec.SHA256, 15*time.Minute)
			return url, 10 * time.Minute, err
		}
	}
	return o
}

// newLimits builds the upload concurrency limit and the per-IP creation rate
// limit (shared by the tus and one-shot routes).
func (s *Server) newLimits(origins *regexp.Regexp) error {
	rj := limit.Rejection{CORSOrigins: origins, CORSExpose: corsConfig(origins).ExposeHeaders, OnReject: s.metrics.Rejected,
		RequestID: func(r *http.Request) string { return reqctx.From(r.Context()).ID }}
	var err error
	if s.busy, err = limit.NewConcurrency(s.cfg.MaxConcurrentUploads, limit.ConcurrencyOptions{Rejection: rj}); err != nil {
		return err
	}
	s.creates, err = limit.NewRateLimiter(s.cfg.CreateRate, s.cfg.CreateBurst, s.cfg.TrustProxy, limit.RateOptions{Rejection: rj})
	return err
}

// guard applies the limits; refusals never reach tusd, so it never reads
// a refused body.
func (s *Server) guard(h http.Handler) http.Handler { return s.creates.Wrap(s.busy.Wrap(h)) }
