// Package deploy holds no code: its tests validate the deployment files in
// this directory with the tools that understand them (nginx, promtool,
// systemd-analyze, docker compose, kustomize, kubeconform) and cross-check
// them against the server: every TUSIMG_* variable must be an option of
// "tusimg serve" with a value it accepts, and every metric a dashboard or an
// alert uses must be one the server exports.
//
// A missing tool skips its test on a developer machine and fails it with
// CI=true (testserver.Need), except systemd-analyze, which only exists on
// systemd machines: absent, its test skips even in CI. .ci/run installs the
// rest; see deploy/README.md ("Validating these files").
package deploy

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/prometheuscollector"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/config"
	"github.com/tusimg/tusimg/pkg/metrics"
)

// K8sVersion is the Kubernetes release whose OpenAPI document the manifests
// are validated against. Its module zip on the Go module proxy carries
// api/openapi-spec/swagger.json, so validation needs no network at test time
// once it is in the module cache (go mod download k8s.io/kubernetes@VERSION).
const K8sVersion = "v1.35.4"

// pendingEnv are options being added with S3 mode and the Redis locker
// (issue 6). The deploy files use them already; until "tusimg serve --help"
// lists them they are reported, not failed. Once listed, their values are
// checked like every other option's.
var pendingEnv = map[string]bool{
	"TUSIMG_STORE": true, "TUSIMG_S3_BUCKET": true, "TUSIMG_S3_PREFIX": true, "TUSIMG_S3_ENDPOINT": true,
	"TUSIMG_S3_REGION": true, "TUSIMG_S3_PATH_STYLE": true, "TUSIMG_S3_SERVE": true, "TUSIMG_REDIS_URL": true,
}

// ---------------------------------------------------------------------------
// helpers

// tool finds an executable, or skips (locally) / fails (CI) saying how to
// install it.
func tool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	testserver.Need(t, err == nil, name, install)
	return p
}

// run runs a command with a deadline and returns its combined output.
func run(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %v: %w", name, timeout, ctx.Err())
	}
	return string(out), err
}

// mustRun is run that fails the test on error.
func mustRun(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := run(t, timeout, dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func abs(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ---------------------------------------------------------------------------
// what the server knows: its options and its metrics

var (
	optionsOnce sync.Once
	optionsEnv  map[string]bool
)

// serverEnv returns the TUSIMG_* variables "tusimg serve" reads, from the
// help text of the real flag set.
func serverEnv(t *testing.T) map[string]bool {
	t.Helper()
	optionsOnce.Do(func() {
		var help bytes.Buffer
		_, err := config.Load("tusimg serve", []string{"--help"}, func(string) string { return "" }, &help)
		if !errors.Is(err, flag.ErrHelp) {
			panic(fmt.Sprintf("config.Load --help: %v", err))
		}
		optionsEnv = map[string]bool{}
		for _, m := range regexp.MustCompile(`env (TUSIMG_[A-Z0-9_]+)`).FindAllStringSubmatch(help.String(), -1) {
			optionsEnv[m[1]] = true
		}
	})
	if len(optionsEnv) < 10 {
		t.Fatalf("found only %d TUSIMG_* options in serve --help", len(optionsEnv))
	}
	return optionsEnv
}

var (
	metricsOnce  sync.Once
	metricNames  map[string]bool
	metricsError error
)

// knownMetrics returns every series name a tusimg instance exports: our
// collectors (each exercised once so vectors appear), the Go and process
// collectors, and tusd's collector (from its descriptors).
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	metricsOnce.Do(func() {
		m := metrics.New()
		m.Request("tus", 204, 0.1)
		m.Published("png", true, 0.01)
		m.Rejected("too_large")
		m.Expired(1)
		m.Served(1)
		m.UploadStarted()
		fams, err := m.Registry().Gather()
		if err != nil {
			metricsError = err
			return
		}
		metricNames = map[string]bool{"up": true}
		for _, f := range fams {
			name := f.GetName()
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				metricNames[name] = true // the family, as prose names it
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					metricNames[name+s] = true
				}
			case dto.MetricType_SUMMARY:
				metricNames[name] = true
				metricNames[name+"_sum"] = true
				metricNames[name+"_count"] = true
			default:
				metricNames[name] = true
			}
		}
		descs := make(chan *prometheus.Desc, 16)
		prometheuscollector.New(handler.Metrics{}).Describe(descs)
		close(descs)
		re := regexp.MustCompile(`fqName: "([^"]+)"`)
		for d := range descs {
			if mm := re.FindStringSubmatch(d.String()); mm != nil {
				metricNames[mm[1]] = true
			}
		}
	})
	if metricsError != nil {
		t.Fatal(metricsError)
	}
	for _, must := range []string{"tusimg_http_requests_total", "tusimg_uploads_in_flight", "tusd_bytes_received", "process_cpu_seconds_total"} {
		if !metricNames[must] {
			t.Fatalf("metric %s missing from the known set: %v", must, sortedKeys(metricNames))
		}
	}
	return metricNames
}

func sortedKeys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// metricToken matches the names of our and tusd's series in PromQL text.
var metricToken = regexp.MustCompile(`\b(?:tusimg|tusd)_[a-z0-9_]+\b`)

// checkMetricNames fails for every tusimg_*/tusd_* name in text that the
// server does not export.
func checkMetricNames(t *testing.T, where, text string) {
	t.Helper()
	known := knownMetrics(t)
	for _, name := range metricToken.FindAllString(text, -1) {
		if !known[name] {
			t.Errorf("%s: unknown metric %q (known: %s)", where, name, strings.Join(sortedKeys(known), ", "))
		}
	}
}

// ---------------------------------------------------------------------------
// options: every TUSIMG_* variable in the deploy files exists, with a valid value

// envAssignment finds NAME=value / NAME: value settings of TUSIMG_*
// variables in a file (YAML, env file, unit, Dockerfile ENV), commented-out
// examples included.
var envAssignment = regexp.MustCompile(`(?m)^[ \t#-]*(?:ENV[ \t]+|Environment=)?"?(TUSIMG_[A-Z0-9_]+)"?[ \t]*[:=][ \t]*(.*?)[ \t]*$`)

func envAssignments(text string) map[string]string {
	out := map[string]string{}
	for _, m := range envAssignment.FindAllStringSubmatch(text, -1) {
		v := strings.TrimSpace(strings.TrimSuffix(m[2], "\\"))
		if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `'`)
		}
		out[m[1]] = v
	}
	return out
}

func TestEnvVarsAreServerOptions(t *testing.T) {
	known := serverEnv(t)
	files := []string{
		"compose.yaml", "docker/Dockerfile", "k8s/configmap.yaml", "k8s/secret.example.yaml",
		"k8s/deployment.yaml", "systemd/tusimg.service", "systemd/env.example", "README.md",
	}
	tokens := regexp.MustCompile(`\bTUSIMG_[A-Z0-9_]+\b`)
	pending := map[string]bool{}
	for _, f := range files {
		text := readFile(t, f)
		for _, name := range tokens.FindAllString(text, -1) {
			switch {
			case known[name]:
			case pendingEnv[name]:
				pending[name] = true
			default:
				t.Errorf("%s: %s is not an option of tusimg serve (see tusimg serve --help)", f, name)
			}
		}
		// Values: load each file's settings into the real config and validate.
		settings := envAssignments(text)
		if f == "systemd/tusimg.service" {
			settings["TUSIMG_DATA"] = "/var/lib/tusimg" // %S/tusimg
		}
		env := map[string]string{}
		for k, v := range settings {
			// Skip compose interpolations and placeholders to be replaced.
			if known[k] && !strings.ContainsAny(v, "${}") && !strings.Contains(v, "CHANGE-ME") {
				env[k] = v
			}
		}
		if len(env) == 0 {
			continue
		}
		cfg, err := config.Load("tusimg serve", nil, func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			t.Errorf("%s: settings rejected: %v", f, err)
			continue
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: settings do not validate: %v", f, err)
		}
	}
	if len(pending) > 0 {
		t.Logf("not yet options of tusimg serve (S3 mode / Redis, issue 6): %s", strings.Join(sortedKeys(pending), ", "))
	}
}

// ---------------------------------------------------------------------------
// Dockerfile
