package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tusimg/tusimg/pkg/httperr"

	"github.com/tusimg/tusimg/pkg/contentstore"
	"github.com/tusimg/tusimg/pkg/imagecheck"
	"github.com/tusimg/tusimg/pkg/redislock"
	"github.com/tusimg/tusimg/pkg/s3blob"
	"github.com/tusimg/tusimg/pkg/uploadstore"
)

// openStores builds the upload store, the image store and the locker for
// --store and --redis-url.
func (s *Server) openStores() error {
	uopts := uploadstore.Options{Dir: filepath.Join(s.cfg.Data, "uploads"), SniffLen: imagecheck.SniffLen,
		Sniff: s.checker.Sniff, OnReject: s.metrics.Rejected, TTL: s.cfg.UploadTTL, Log: s.log}
	var err error
	switch s.cfg.Store {
	case "s3":
		err = s.openS3(uopts)
	default:
		err = s.openFS(uopts)
	}
	if err != nil {
		return err
	}
	return s.openLocker()
}

func (s *Server) openFS(uopts uploadstore.Options) error {
	fs, err := contentstore.NewFS(filepath.Join(s.cfg.Data, "images"), s.log)
	if err != nil {
		return fmt.Errorf("content store: %w", err)
	}
	// Test-only: crash tests (kill -9) pause publishing at its crash window.
	if d, err := time.ParseDuration(os.Getenv("TUSIMG_TEST_PUBLISH_PAUSE")); err == nil && d > 0 {
		fs.PublishPause = d
		s.log.Warn("test.publish_pause", "pause", d.String())
	}
	s.images = fs
	if s.uploads, err = uploadstore.New(uopts); err != nil {
		return fmt.Errorf("upload store: %w", err)
	}
	return nil
}

func (s *Server) openS3(uopts uploadstore.Options) error {
	o := s3blob.Options{Bucket: s.cfg.S3Bucket, Prefix: s.cfg.S3Prefix, Endpoint: s.cfg.S3Endpoint,
		Region: s.cfg.S3Region, PathStyle: s.cfg.S3PathStyle}
	client, err := s3blob.NewClient(context.Background(), o)
	if err != nil {
		return fmt.Errorf("--store s3: %w", err)
	}
	st, err := contentstore.NewS3(client, o, s.log)
	if err != nil {
		return fmt.Errorf("content store: %w", err)
	}
	if s.cfg.S3CacheSize > 0 {
		if err := st.UseDiskCache(filepath.Join(s.cfg.Data, "s3cache"), int64(s.cfg.S3CacheSize)); err != nil {
			return fmt.Errorf("--s3-cache-size: %w", err)
		}
	}
	// Test-only: crash tests pause publishing at its crash window.
	if d, err := time.ParseDuration(os.Getenv("TUSIMG_TEST_PUBLISH_PAUSE")); err == nil && d > 0 {
		st.PublishPause = d
	}
	s.images, s.s3images = st, st
	if s.uploads, err = uploadstore.NewS3(client, o, uopts); err != nil {
		return fmt.Errorf("upload store: %w", err)
	}
	if s.cfg.RedisURL == "" {
		s.log.Warn("s3.no_redis", "hint", "upload locks are per instance: run one instance, or set --redis-url")
	}
	return nil
}

func (s *Server) openLocker() error {
	if s.cfg.RedisURL == "" {
		s.locker = uploadstore.Polite(uploadstore.NewLocker(), politeIdle)
		return nil
	}
	redis.SetLogger(redisLogger{s.log})
	opt, err := redis.ParseURL(s.cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("--redis-url: %v", err)
	}
	s.redis = redis.NewClient(opt)
	l, err := redislock.New(s.redis, redislock.Options{TTL: s.cfg.LockTTL}, s.log)
	if err != nil {
		return fmt.Errorf("--redis-url: %w", err)
	}
	s.locker = uploadstore.Polite(l, politeIdle)
	return nil
}

// politeIdle is how long an upload that receives no bytes keeps its lock
// against a newcomer (see uploadstore.Polite).
const politeIdle = 2 * time.Second

// closeStores releases connections after the HTTP servers stopped.
func (s *Server) closeStores() {
	if err := s.uploads.Close(); err != nil {
		s.log.Warn("uploadstore.close", "error", err)
	}
	if c, ok := s.locker.(interface{ Close() error }); ok {
		_ = c.Close()
	}
	if s.redis != nil {
		_ = s.redis.Close()
	}
}

// readyErr checks every store (and Redis) is usable.
func (s *Server) readyErr(ctx context.Context) error {
	if !s.recovered.Load() {
		return errors.New("startup recovery is not finished")
	}
	if err := s.images.Ready(ctx); err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	if err := s.uploads.Ready(ctx); err != nil {
		return fmt.Errorf("upload store: %w", err)
	}
	if l, ok := s.locker.(interface{ Ping(context.Context) error }); ok {
		if err := l.Ping(ctx); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
	}
	return nil
}

// whenRecovered answers 503 (Retry-After) until startup recovery finished,
// so no upload races the recovery of its own session.
func (s *Server) whenRecovered(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.recovered.Load() {
			w.Header().Set("Retry-After", "2")
			fail(w, r, httperr.New(http.StatusServiceUnavailable, "starting", "the server is starting; retry shortly"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// redisLogger sends go-redis's own messages (e.g. "failed to dial" while
// Redis is down) to our structured log instead of stderr.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis.client", "message", fmt.Sprintf(format, v...))
}
