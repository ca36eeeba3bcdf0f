package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tusimg/tusimg/pkg/reqctx"
)

// Run listens on the configured address(es) and serves until ctx ends, then
// shuts down gracefully: new connections are refused and in-flight requests
// (uploads included) get the shutdown grace to finish. Before uploads are
// accepted the stores are recovered (retried with backoff while a store is
// unreachable); until then /healthz answers, /readyz and uploads answer 503.
// The ready callback, if not nil, gets the bound addresses once recovered.
func (s *Server) Run(ctx context.Context, ready func(addr, metricsAddr string)) error {
	defer s.closeStores()
	ctx = reqctx.With(ctx, reqctx.Info{Log: s.log})
	servers, listeners, metricsAddr, err := s.listen()
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range servers {
		srv, l := servers[i], listeners[i]
		g.Go(func() error { return runServer(srv, l) })
	}
	g.Go(func() error { <-gctx.Done(); return s.shutdown(servers) })
	g.Go(func() error {
		if err := s.recoverWithRetry(gctx); err != nil {
			return nil // ctx ended: shutting down
		}
		s.recovered.Store(true)
		s.log.Info("server.started", "addr", listeners[0].Addr().String(), "metrics_addr", metricsAddr,
			"store", s.cfg.Store, "tls", s.tls != nil, "mtls", s.tls != nil && s.tls.ClientCAs != nil, "auth", s.auth.Enabled())
		if ready != nil {
			ready(listeners[0].Addr().String(), metricsAddr)
		}
		s.hooks.RunJanitor(gctx, s.cfg.JanitorInterval)
		return nil
	})
	return g.Wait()
}

func runServer(srv *http.Server, l net.Listener) error {
	var err error
	if srv.TLSConfig != nil {
		err = srv.ServeTLS(l, "", "")
	} else {
		err = srv.Serve(l)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// listen opens the main listener and the optional metrics and pprof ones.
func (s *Server) listen() ([]*http.Server, []net.Listener, string, error) {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, nil, "", fmt.Errorf("--listen %s: %w", s.cfg.Listen, err)
	}
	main := s.httpServer(s.handler)
	main.TLSConfig = s.tls
	servers, listeners := []*http.Server{main}, []net.Listener{ln}
	extra := []struct {
		flag, addr string
		h          http.Handler
	}{{"--metrics-listen", s.cfg.MetricsListen, metricsMux(s.metrics.Handler())}, {"--pprof-listen", s.cfg.PprofListen, pprofMux()}}
	metricsAddr := ""
	for _, e := range extra {
		if e.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", e.addr)
		if err != nil {
			closeAll(listeners)
			return nil, nil, "", fmt.Errorf("%s %s: %w", e.flag, e.addr, err)
		}
		if e.flag == "--metrics-listen" {
			metricsAddr = l.Addr().String()
		}
		servers, listeners = append(servers, s.httpServer(e.h)), append(listeners, l)
	}
	return servers, listeners, metricsAddr, nil
}

// recoverWithRetry runs startup recovery until it succeeds or ctx ends,
// backing off from 500 ms to 30 s while a store is unreachable.
func (s *Server) recoverWithRetry(ctx context.Context) error {
	wait := 500 * time.Millisecond
	for {
		err := s.Recover(ctx)
		if err == nil {
			return nil
		}
		s.log.Warn("recover.retry", "error", err, "in", wait.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
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

func metricsMux(h http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return mux
}
