package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"

	"golang.org/x/sync/errgroup"

	"github.com/tusimg/tusimg/pkg/reqctx"
)

// Run recovers the stores, listens on the configured address(es), serves
// until ctx ends, then shuts down gracefully: new connections are refused and
// in-flight requests (uploads included) get the shutdown grace to finish. The
// ready callback, if not nil, gets the bound addresses once serving.
func (s *Server) Run(ctx context.Context, ready func(addr, metricsAddr string)) error {
	defer func() {
		if err := s.uploads.Close(); err != nil {
			s.log.Warn("uploadstore.close", "error", err)
		}
	}()
	ctx = reqctx.With(ctx, reqctx.Info{Log: s.log})
	if err := s.Recover(ctx); err != nil {
		return fmt.Errorf("startup recovery: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", s.cfg.Listen, err)
	}
	servers := []*http.Server{s.httpServer(s.handler)}
	listeners := []net.Listener{ln}
	metricsAddr := ""
	if s.cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			closeAll(listeners)
			return fmt.Errorf("--metrics-listen %s: %w", s.cfg.MetricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metrics.Handler())
		servers = append(servers, s.httpServer(mux))
		listeners = append(listeners, mln)
		metricsAddr = mln.Addr().String()
	}
	if s.cfg.PprofListen != "" {
		pln, err := net.Listen("tcp", s.cfg.PprofListen)
		if err != nil {
			closeAll(listeners)
			return fmt.Errorf("--pprof-listen %s: %w", s.cfg.PprofListen, err)
		}
		servers = append(servers, s.httpServer(pprofMux()))
		listeners = append(listeners, pln)
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range servers {
		srv, l := servers[i], listeners[i]
		if i == 0 && s.tls != nil {
			srv.TLSConfig = s.tls
		}
		g.Go(func() error {
			var err error
			if srv.TLSConfig != nil {
				err = srv.ServeTLS(l, "", "")
			} else {
				err = srv.Serve(l)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error { s.hooks.RunJanitor(gctx, s.cfg.JanitorInterval); return nil })
	g.Go(func() error { <-gctx.Done(); return s.shutdown(servers) })
	s.log.Info("server.started", "addr", ln.Addr().String(), "metrics_addr", metricsAddr, "data", s.cfg.Data,
		"tls", s.tls != nil, "mtls", s.tls != nil && s.tls.ClientCAs != nil, "auth", s.auth.Enabled())
	if ready != nil {
		ready(ln.Addr().String(), metricsAddr)
	}
	return g.Wait()
}

func (s *Server) shutdown(servers []*http.Server) error {
	s.log.Info("server.stopping", "grace", s.cfg.ShutdownGrace.String())
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			s.log.Warn("server.shutdown_forced", "error", err)
			errs = append(errs, srv.Close())
		}
	}
	s.log.Info("server.stopped")
	return errors.Join(errs...)
}

// httpServer applies the hardening settings. There is no whole-request read
// or write timeout, which would cut large uploads and downloads: upload
// bodies are guarded by tusd's per-read NetworkTimeout (a slow but moving
// client is never cut, a stalled one is), headers by ReadHeaderTimeout, idle
// keep-alive connections by IdleTimeout.
func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    int(s.cfg.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(s.log.With("component", "http").Handler(), slog.LevelWarn),
	}
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// pprofMux serves the Go profiler (only on --pprof-listen).
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
