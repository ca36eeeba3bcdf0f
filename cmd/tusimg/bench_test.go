package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/bench"
)

func TestBenchHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"tusimg", "bench", "help"}, env(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"large", "small", "get", "gen"} {
		if !strings.Contains(out.String(), "tusimg bench "+mode) {
			t.Errorf("bench help lacks mode %s", mode)
		}
	}
	cases := map[string][]string{
		"large": {"-url", "-size", "-chunk", "-duration", "-json", "(default 1GiB)", "(default 8MiB)"},
		"small": {"-count", "-concurrency", "-creation-with-upload", "(default 200KiB)", "(default 2000)"},
		"get":   {"-sha", "-head", "-if-none-match", "-images", "-upload-dir", "(default 20000)"},
		"gen":   {"-out", "-count"},
	}
	for mode, want := range cases {
		out.Reset()
		if err := run(context.Background(), []string{"tusimg", "bench", mode, "--help"}, env(nil), &out, &out); err != nil {
			t.Fatalf("%s --help: %v", mode, err)
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s --help lacks %q:\n%s", mode, w, out.String())
			}
		}
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{}, {"nope"}, {"small", "--count", "-1"}, {"small", "--size", "lots"}, {"large", "--chunk", "0"},
		{"get", "--concurrency", "0"}, {"gen"}, {"small", "stray"}, {"get", "--sha", ","},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"tusimg", "bench"}, args...), env(nil), &out, &out)
		if !errors.Is(err, errUsage) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: got %v, want a one-line usage error", args, err)
		}
	}
}

// TestBenchAgainstTusimg runs the command end to end with small counts.
func TestBenchAgainstTusimg(t *testing.T) {
	ts := testserver.Start(t, nil)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	args := []string{"tusimg", "bench", "small", "--url", ts.URL, "--count", "6", "--concurrency", "3", "--size", "30KiB", "--json"}
	if err := run(ctx, args, env(nil), &out, &errOut); err != nil {
		t.Fatalf("small: %v\n%s", err, errOut.String())
	}
	var res bench.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if res.Uploads != 6 || res.Errors != 0 || res.ImageURLs != 6 {
		t.Errorf("small: %+v", res)
	}
	dir := t.TempDir()
	out.Reset()
	if err := run(ctx, []string{"tusimg", "bench", "gen", "--out", dir, "--count", "2", "--size", "4KiB"}, env(nil), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	shaFile := filepath.Join(t.TempDir(), "shas")
	if err := os.WriteFile(shaFile, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	args = []string{"tusimg", "bench", "get", "--url", ts.URL, "--upload-dir", dir, "--count", "0"}
	if err := run(ctx, args, env(nil), &out, &errOut); err != nil {
		t.Fatalf("get upload-only: %v\n%s", err, errOut.String())
	}
	out.Reset()
	args = []string{"tusimg", "bench", "get", "--url", ts.URL, "--sha", "@" + shaFile, "--count", "8", "--concurrency", "2"}
	if err := run(ctx, args, env(nil), &out, &errOut); err != nil {
		t.Fatalf("get: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "8 of 8") || !strings.Contains(out.String(), "p99") {
		t.Errorf("get table:\n%s", out.String())
	}
	// A failing run prints its table, then fails with status 1.
	out.Reset()
	errOut.Reset()
	args = []string{"tusimg", "bench", "get", "--url", ts.URL, "--sha", strings.Repeat("0", 64), "--count", "2"}
	err := run(ctx, args, env(nil), &out, &errOut)
	if err == nil || exitCode(err) != 1 || !strings.Contains(errOut.String(), "status 404") {
		t.Errorf("missing image: err %v, stderr %q", err, errOut.String())
	}
}
