package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"

	"github.com/tusimg/tusimg/pkg/config"
	"github.com/tusimg/tusimg/pkg/server"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage error")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

const usage = `tusimg: resumable image upload server

Usage:
  tusimg serve [options]   run the server (see tusimg serve --help)
  tusimg bench MODE [...]  load generator: large, small, get, gen (see tusimg bench help)
  tusimg token --subject S mint a signed upload token (key from TUSIMG_AUTH_SECRET)
  tusimg health [--url U]  exit 0 if the server's /healthz answers 200 (for container health checks)
  tusimg version           print version information
  tusimg help              print this text
`

// run is the whole program: args and environment in, error out. Only main
// exits, so tests can run the service in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: missing command", errUsage)
	}
	switch args[1] {
	case "serve":
		return serve(ctx, args[2:], getenv, stdout, stderr)
	case "bench":
		return benchCmd(ctx, args[2:], stdout, stderr)
	case "token":
		return tokenCmd(ctx, args[2:], getenv, stdout, stderr)
	case "health":
		return healthCmd(ctx, args[2:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "--help", "-h", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[1])
	}
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load("tusimg serve", args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: invalid configuration: %s", errUsage, oneLine(err))
	}
	log := newLogger(cfg, stderr)
	setGCFloor(int64(cfg.GCFloor))
	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	return srv.Run(ctx, nil)
}

// oneLine joins errors.Join's lines with "; " so a bad config is one line.
func oneLine(err error) string {
	s := err.Error()
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, "; "...)
			continue
		}
		out = append(out, s[i])
	}
	return string(out)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func versionString() string {
	tusd := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tus/tusd/v2" {
				tusd = d.Version
			}
		}
	}
	return fmt.Sprintf("tusimg %s (%s, tusd %s, %s/%s)", version, runtime.Version(), tusd, runtime.GOOS, runtime.GOARCH)
}
