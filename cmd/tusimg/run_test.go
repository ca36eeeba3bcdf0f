package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testenv"
	"github.com/tusimg/tusimg/pkg/auth"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestServeHelpListsEveryOption checks --help shows each option with its
// default and environment variable.
func TestServeHelpListsEveryOption(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"tusimg", "serve", "--help"}, env(nil), &out, &out); err != nil {
		t.Fatalf("serve --help: %v", err)
	}
	help := out.String()
	for _, want := range []string{"--listen", `default ":8080"`, "TUSIMG_LISTEN", "--data", `default "./data"`, "TUSIMG_DATA",
		"--max-size", `default "50MiB"`, "TUSIMG_MAX_SIZE", "--max-width", "--max-height", "--max-pixels", "--allowed-types",
		"--upload-ttl", `default "24h0m0s"`, "TUSIMG_UPLOAD_TTL", "--network-timeout", "--shutdown-grace", "--cors-origins"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestBadConfigIsOneClearLine checks each kind of bad configuration fails
// with a non-nil error whose text is one line naming what to fix.
func TestBadConfigIsOneClearLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined: -nope"},
		{"negative limit", []string{"--max-width", "-5"}, nil, "--max-width (TUSIMG_MAX_WIDTH): must be positive"},
		{"bad size", []string{"--max-size", "lots"}, nil, `invalid size "lots"`},
		{"bad env", nil, map[string]string{"TUSIMG_UPLOAD_TTL": "soon"}, `TUSIMG_UPLOAD_TTL="soon": invalid duration`},
		{"bad regexp", []string{"--cors-origins", "(("}, nil, "--cors-origins (TUSIMG_CORS_ORIGINS): invalid regular expression"},
		{"bad type", []string{"--allowed-types", "image/svg+xml"}, nil, "image/svg+xml"},
		{"unwritable data dir", []string{"--data", filepath.Join(file, "sub")}, nil, "--data " + filepath.Join(file, "sub")},
		{"world-writable data dir", []string{"--data", open}, nil, "world-writable"},
		{"stray argument", []string{"extra"}, nil, `unexpected argument "extra"`},
		{"gc floor too large", []string{"--gc-floor", "5GiB"}, nil, "--gc-floor (TUSIMG_GC_FLOOR): must be between 0 (off) and 4GiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			args := append([]string{"tusimg", "serve", "--listen", "127.0.0.1:0"}, c.args...)
			err := run(context.Background(), args, env(c.env), &out, &out)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line containing %q", err, c.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"tusimg", "version"}, env(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^tusimg \S+ \(go1\.\d+.*, tusd \S+, \w+/\w+\)\n$`).MatchString(out.String()) {
		t.Fatalf("version output %q", out.String())
	}
	err := run(context.Background(), []string{"tusimg", "frobnicate"}, env(nil), &out, &out)
	if !errors.Is(err, errUsage) || exitCode(err) != 2 {
		t.Fatalf("unknown command: %v", err)
	}
}

// TestServeRunsAndStops runs the real command with env config, waits for
// /healthz, then cancels (as SIGTERM does) and expects a clean return.
func TestServeRunsAndStops(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	var logs testenv.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"tusimg", "serve"}, env(map[string]string{"TUSIMG_LISTEN": "127.0.0.1:0", "TUSIMG_DATA": dir}), &logs, &logs)
	}()
	addr := ""
	re := regexp.MustCompile(`server.started addr=(\S+)`)
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("server did not start: %s", logs.String())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, sub := range []string{"uploads", "images", "tmp"} {
		fi, err := os.Stat(filepath.Join(dir, sub))
		if err != nil || fi.Mode().Perm() != 0o750 {
			t.Errorf("%s: %v %v, want a 0750 directory", sub, fi, err)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop")
	}
	if !strings.Contains(logs.String(), "server.stopped") {
		t.Errorf("no server.stopped log")
	}
}

// TestHealthCommand probes a live server and a dead address.
func TestHealthCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"tusimg", "health", "--url", srv.URL + "/healthz"}, env(nil), &out, &out); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	if err := run(context.Background(), []string{"tusimg", "health", "--url", srv.URL + "/other"}, env(nil), &out, &out); err == nil {
		t.Fatal("503 reported healthy")
	}
	addr := srv.Listener.Addr().String()
	srv.Close()
	if err := run(context.Background(), []string{"tusimg", "health", "--url", "http://" + addr + "/healthz", "--timeout", "1s"}, env(nil), &out, &out); err == nil {
		t.Fatal("closed port reported healthy")
	}
}

// TestTokenCommand mints a token a server with the same key accepts.
func TestTokenCommand(t *testing.T) {
	key := "0123456789abcdef0123456789abcdef"
	var out bytes.Buffer
	err := run(context.Background(), []string{"tusimg", "token", "--subject", "alice", "--ttl", "5m", "--max-size", "1MiB"},
		env(map[string]string{"TUSIMG_AUTH_SECRET": key}), &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	c, err := auth.Verify([]byte(key), strings.TrimSpace(out.String()), time.Now())
	if err != nil || c.Subject != "alice" || c.MaxSize != 1<<20 || c.Expires > time.Now().Add(5*time.Minute).Unix()+1 {
		t.Fatalf("minted token: %+v %v", c, err)
	}
	for _, args := range [][]string{{"--subject", "a"}, {"--ttl", "1h"}} {
		e := map[string]string{"TUSIMG_AUTH_SECRET": key}
		if args[0] == "--subject" {
			e = nil
		}
		if err := run(context.Background(), append([]string{"tusimg", "token"}, args...), env(e), &out, &out); !errors.Is(err, errUsage) {
			t.Errorf("token %v: %v, want a usage error", args, err)
		}
	}
}
