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
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
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

func TestDockerfile(t *testing.T) {
	text := readFile(t, "docker/Dockerfile")
	// Instructions, continuation lines joined.
	var instr []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trim := strings.TrimSpace(line)
		if cur.Len() == 0 && (trim == "" || strings.HasPrefix(trim, "#")) {
			continue
		}
		if strings.HasPrefix(trim, "#") { // comment inside a continued instruction
			continue
		}
		if strings.HasSuffix(trim, "\\") {
			cur.WriteString(strings.TrimSuffix(trim, "\\") + " ")
			continue
		}
		cur.WriteString(trim)
		instr = append(instr, cur.String())
		cur.Reset()
	}
	var froms []string
	var last = map[string]string{} // last instruction of each keyword in the final stage
	var goBuild string
	for _, in := range instr {
		kw, rest, _ := strings.Cut(in, " ")
		kw = strings.ToUpper(kw)
		if kw == "FROM" {
			froms = append(froms, rest)
			last = map[string]string{}
		}
		last[kw] = rest
		if kw == "RUN" && strings.Contains(rest, "go build") {
			goBuild = rest
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got FROM %v", froms)
	}
	final := froms[len(froms)-1]
	if !strings.Contains(final, "distroless/static") && !strings.HasPrefix(final, "scratch") {
		t.Errorf("final stage %q: want distroless static or scratch", final)
	}
	if strings.Contains(final, "distroless") && !strings.Contains(final, ":nonroot") {
		t.Errorf("final stage %q: want the :nonroot variant", final)
	}
	if u := last["USER"]; u == "" || u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
		t.Errorf("final stage USER %q: want a non-root user", u)
	}
	for kw, want := range map[string]string{
		"EXPOSE": "8080", "VOLUME": "/data", "HEALTHCHECK": `"/tusimg", "health"`, "ENTRYPOINT": "/tusimg",
	} {
		if !strings.Contains(last[kw], want) {
			t.Errorf("final stage %s %q: want it to contain %s", kw, last[kw], want)
		}
	}
	if strings.Contains(last["HEALTHCHECK"], "NONE") {
		t.Error("HEALTHCHECK NONE")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", "-X main.version=", "./cmd/tusimg"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("go build step %q lacks %s", goBuild, want)
		}
	}

	// Run the Dockerfile's build step here, as it is written (minus the
	// BuildKit cache mounts), in a copy of the build context as
	// Dockerfile.dockerignore filters it, and check what it makes: a static
	// binary that reports the version it was given.
	if testing.Short() {
		t.Skip("-short: not building the binary")
	}
	goBin := tool(t, "go", "https://go.dev/dl")
	ctxDir := dockerContext(t, "..", "docker/Dockerfile.dockerignore")
	out := t.TempDir()
	step := regexp.MustCompile(`--mount=\S+\s*`).ReplaceAllString(goBuild, "")
	step = strings.ReplaceAll(step, "/out/", out+"/")
	const version = "v0.0.0-deploytest"
	shell := "export PATH=" + filepath.Dir(goBin) + ":$PATH; " + step
	mustRun(t, 8*time.Minute, ctxDir, []string{"VERSION=" + version, "TARGETOS=" + runtime.GOOS, "TARGETARCH=" + runtime.GOARCH}, "/bin/sh", "-c", shell)
	bin := filepath.Join(out, "tusimg")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("the build step made no ELF binary: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has a program interpreter: not static (CGO_ENABLED=0 missing?)")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary links shared libraries %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("binary has a symbol table: -s missing from -ldflags")
	}
	v := mustRun(t, time.Minute, out, nil, bin, "version")
	if !strings.Contains(v, version) {
		t.Errorf("tusimg version = %q, want it to contain %q (-X main.version)", v, version)
	}
	// The HEALTHCHECK's command: exit 0 for a 200, non-zero otherwise.
	ts := testserver.Start(t, nil)
	if h, err := run(t, time.Minute, out, nil, bin, "health", "--url", ts.URL+"/healthz"); err != nil {
		t.Errorf("tusimg health --url %s/healthz: %v\n%s", ts.URL, err, h)
	}
	if _, err := run(t, time.Minute, out, nil, bin, "health", "--url", ts.URL+"/i/not-a-hash"); err == nil {
		t.Errorf("tusimg health exited 0 for a 400 answer")
	}
}

// dockerContext copies root into a temporary directory without what the
// ignore file excludes, as the docker build context would be. It knows the
// subset of .dockerignore syntax the file uses: patterns relative to the
// root (a leading "/" is optional), "*" and "?" within a name, "**/" for
// any depth; no "!" exceptions.
func dockerContext(t *testing.T, root, ignoreFile string) string {
	t.Helper()
	var patterns []string
	for _, line := range strings.Split(readFile(t, ignoreFile), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf("%s: exceptions (%q) are beyond this test's matcher", ignoreFile, line)
		}
		patterns = append(patterns, strings.TrimPrefix(line, "/"))
	}
	ignored := func(rel string) bool {
		segs := strings.Split(rel, "/")
		for _, p := range patterns {
			if sub, ok := strings.CutPrefix(p, "**/"); ok {
				for i := range segs {
					if m, _ := filepath.Match(sub, strings.Join(segs[i:], "/")); m {
						return true
					}
				}
			} else if m, _ := filepath.Match(p, rel); m {
				return true
			}
		}
		return false
	}
	dst := t.TempDir()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if ignored(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, 0o644)
		}
		return nil // symlinks, sockets: not needed to build
	})
	if err != nil {
		t.Fatalf("copying the build context: %v", err)
	}
	return dst
}

// ---------------------------------------------------------------------------
// docker compose

// composeCommand returns the argv prefix of a Compose v2+ CLI: the docker
// plugin, or a standalone docker-compose that is not the old Python v1.
func composeCommand(t *testing.T) []string {
	t.Helper()
	if docker, err := exec.LookPath("docker"); err == nil {
		if out, err := run(t, 30*time.Second, ".", nil, docker, "compose", "version"); err == nil && strings.Contains(out, "Compose") {
			return []string{docker, "compose"}
		}
	}
	if dc, err := exec.LookPath("docker-compose"); err == nil {
		if out, err := run(t, 30*time.Second, ".", nil, dc, "version", "--short"); err == nil && !strings.HasPrefix(strings.TrimSpace(out), "1.") {
			return []string{dc}
		}
	}
	testserver.Need(t, false, "docker compose (v2 or later, no engine needed for 'config')",
		"build the plugin from the Go module proxy: see .ci/run or deploy/README.md")
	return nil
}

type composeProject struct {
	Services map[string]struct {
		Image       string                                `json:"image"`
		Environment map[string]*string                    `json:"environment"`
		DependsOn   map[string]map[string]any             `json:"depends_on"`
		Healthcheck *struct{ Test []string }              `json:"healthcheck"`
		Volumes     []struct{ Type, Source string }       `json:"volumes"`
		Build       *struct{ Context, Dockerfile string } `json:"build"`
		ReadOnly    bool                                  `json:"read_only"`
	} `json:"services"`
}

func TestCompose(t *testing.T) {
	argv := composeCommand(t)
	// No .env may change what is validated: defaults only.
	env := []string{"COMPOSE_PROJECT_NAME=", "S3_ACCESS_KEY=", "S3_SECRET_KEY=", "IMAGE_TAG=", "HTTP_PORT="}
	args := append(slices.Clone(argv[1:]), "-f", "compose.yaml", "config", "-q")
	mustRun(t, time.Minute, ".", env, argv[0], args...)
	args = append(slices.Clone(argv[1:]), "-f", "compose.yaml", "config", "--format", "json")
	out := mustRun(t, time.Minute, ".", env, argv[0], args...)
	var p composeProject
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &p); err != nil {
		t.Fatalf("compose config JSON: %v", err)
	}
	for _, name := range []string{"tusimg-1", "tusimg-2", "nginx", "s3", "createbucket", "redis", "prometheus", "grafana"} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %s missing", name)
		}
	}
	var instances []string
	for name, s := range p.Services {
		if !strings.HasPrefix(name, "tusimg-") {
			continue
		}
		instances = append(instances, name)
		get := func(k string) string {
			if v := s.Environment[k]; v != nil {
				return *v
			}
			return ""
		}
		for k, want := range map[string]string{"TUSIMG_STORE": "s3", "TUSIMG_METRICS_LISTEN": ":9091", "TUSIMG_TRUST_PROXY": "true"} {
			if got := get(k); got != want {
				t.Errorf("%s: %s=%q, want %q", name, k, got, want)
			}
		}
		if !strings.HasPrefix(get("TUSIMG_REDIS_URL"), "redis://redis:") {
			t.Errorf("%s: TUSIMG_REDIS_URL=%q does not point at the redis service", name, get("TUSIMG_REDIS_URL"))
		}
		if !strings.HasPrefix(get("TUSIMG_S3_ENDPOINT"), "http://s3:") {
			t.Errorf("%s: TUSIMG_S3_ENDPOINT=%q does not point at the s3 service", name, get("TUSIMG_S3_ENDPOINT"))
		}
		if c := s.DependsOn["createbucket"]["condition"]; c != "service_completed_successfully" {
			t.Errorf("%s: depends_on createbucket condition %v", name, c)
		}
		if c := s.DependsOn["redis"]["condition"]; c != "service_healthy" {
			t.Errorf("%s: depends_on redis condition %v", name, c)
		}
		if s.Build == nil || !strings.HasSuffix(s.Build.Dockerfile, "deploy/docker/Dockerfile") {
			t.Errorf("%s: not built from deploy/docker/Dockerfile: %+v", name, s.Build)
		} else if _, err := os.Stat(filepath.Join(s.Build.Context, "go.mod")); err != nil {
			t.Errorf("%s: build context %s has no go.mod", name, s.Build.Context)
		}
		if !s.ReadOnly {
			t.Errorf("%s: want read_only: true", name)
		}
	}
	sort.Strings(instances)
	if len(instances) < 2 {
		t.Fatalf("want at least two tusimg instances, got %v", instances)
	}
	// Every bind-mounted file exists.
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type == "bind" {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s: bind mount source: %v", name, err)
				}
			}
		}
		if name != "createbucket" && name != "prometheus" && name != "grafana" && s.Healthcheck == nil {
			t.Errorf("%s: no healthcheck", name)
		}
	}
	// nginx's upstream and Prometheus's targets list exactly these instances.
	up := readFile(t, "nginx/upstream-compose.conf")
	prom := readFile(t, "prometheus/prometheus.yml")
	for _, inst := range instances {
		if !strings.Contains(up, "server "+inst+":8080") {
			t.Errorf("nginx/upstream-compose.conf lacks %s:8080", inst)
		}
		if !strings.Contains(prom, `"`+inst+`:9091"`) {
			t.Errorf("prometheus/prometheus.yml does not scrape %s:9091", inst)
		}
	}
	if n := strings.Count(up, "server tusimg-"); n != len(instances) {
		t.Errorf("nginx upstream has %d tusimg servers, compose has %d instances", n, len(instances))
	}
}

// ---------------------------------------------------------------------------
// nginx

// nginxWrapper writes an nginx.conf around the given http-context includes
// and returns its path.
func nginxWrapper(t *testing.T, dir, httpExtra string, includes ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "daemon off;\nmaster_process off;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\nevents { worker_connections 64; }\nhttp {\n", dir, dir)
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "  %s_temp_path %s/%s;\n", d, dir, d)
	}
	fmt.Fprintf(&b, "  access_log off;\n%s\n", httpExtra)
	for _, inc := range includes {
		fmt.Fprintf(&b, "  include %s;\n", inc)
	}
	b.WriteString("}\n")
	p := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func nginxTest(t *testing.T, nginx, dir, conf string) {
	t.Helper()
	out, err := run(t, 30*time.Second, dir, nil, nginx, "-t", "-q", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf)
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, readFile(t, conf))
	}
}

func TestNginxConfig(t *testing.T) {
	nginx := tool(t, "nginx", "apt-get install nginx")
	conf := abs(t, "nginx/tusimg.conf")

	t.Run("syntax", func(t *testing.T) {
		dir := t.TempDir()
		nginxTest(t, nginx, dir, nginxWrapper(t, dir,
			"  upstream tusimg { server 127.0.0.1:8080; keepalive 8; }", conf))
	})
	t.Run("compose-upstream", func(t *testing.T) {
		// The compose upstream names only resolve inside compose's network:
		// check its syntax with them pointed at loopback.
		dir := t.TempDir()
		up := readFile(t, "nginx/upstream-compose.conf")
		up = regexp.MustCompile(`tusimg-\d+:`).ReplaceAllString(up, "127.0.0.1:")
		upPath := filepath.Join(dir, "upstream.conf")
		if err := os.WriteFile(upPath, []byte(up), 0o644); err != nil {
			t.Fatal(err)
		}
		nginxTest(t, nginx, dir, nginxWrapper(t, dir, "", upPath, conf))
	})
	t.Run("settings", func(t *testing.T) {
		text := readFile(t, "nginx/tusimg.conf")
		files := regexp.MustCompile(`(?s)location /files/ \{(.*?)\}`).FindStringSubmatch(text)
		if files == nil {
			t.Fatal("no location /files/")
		}
		for _, want := range []string{"proxy_request_buffering off;", "proxy_buffering off;"} {
			if !strings.Contains(files[1], want) {
				t.Errorf("location /files/ lacks %s", want)
			}
		}
		for _, want := range []string{"proxy_http_version 1.1;", `proxy_set_header Connection "";`,
			"X-Forwarded-Proto", "X-Forwarded-Host", "proxy_read_timeout", "proxy_send_timeout"} {
			if !strings.Contains(text, want) {
				t.Errorf("tusimg.conf lacks %s", want)
			}
		}
		// client_max_body_size must admit the server's default --max-size.
		m := regexp.MustCompile(`client_max_body_size (\d+)m;`).FindStringSubmatch(text)
		if m == nil {
			t.Fatal("no client_max_body_size NNm")
		}
		mb, _ := strconv.ParseInt(m[1], 10, 64)
		if max := int64(config.Default().MaxSize); mb<<20 < max || mb<<20 > max+8<<20 {
			t.Errorf("client_max_body_size %dm does not match the default --max-size %d bytes (want it at most 8 MiB above)", mb, max)
		}
	})
}

// TestNginxProxiesUploads runs nginx with tusimg.conf in front of a real
// tusimg and uploads through it: forwarded headers reach the Location and
// Image-Url headers, an image comes back with its caching headers, /metrics
// is hidden, a client's Forwarded header is not believed, and a body over
// client_max_body_size is refused before it is sent.
func TestNginxProxiesUploads(t *testing.T) {
	nginx := tool(t, "nginx", "apt-get install nginx")
	ts := testserver.Start(t, func(c *config.Config) { c.TrustProxy = true })
	backend := strings.TrimPrefix(ts.URL, "http://")

	dir := t.TempDir()
	port := freePort(t)
	site := readFile(t, "nginx/tusimg.conf")
	site = strings.Replace(site, "listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port), 1)
	site = strings.Replace(site, "listen [::]:80;", "", 1)
	sitePath := filepath.Join(dir, "tusimg.conf")
	if err := os.WriteFile(sitePath, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := nginxWrapper(t, dir, fmt.Sprintf("  upstream tusimg { server %s; keepalive 8; }", backend), sitePath)
	nginxTest(t, nginx, dir, conf)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", stderr.String(), log)
		}
	})
	front := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 30 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(front + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not proxy /healthz within 20s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	img, err := os.ReadFile("../testdata/ok.png")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", front+"/files/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(len(img)))
	req.Header.Set("Upload-Metadata", "filename b2sucG5n") // ok.png
	req.Header.Set("Forwarded", "host=evil.example;proto=https")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(loc, front+"/files/") {
		t.Fatalf("POST /files/ through nginx: %s, Location %q; want 201 and a Location on %s (the client's Host and port, not evil.example)",
			resp.Status, loc, front)
	}

	req, _ = http.NewRequest("PATCH", loc, bytes.NewReader(img))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("X-Forwarded-Proto", "https") // a TLS terminator in front of nginx
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	imgURL := resp.Header.Get("Image-Url")
	if resp.StatusCode != http.StatusNoContent || imgURL == "" {
		t.Fatalf("PATCH through nginx: %s %s, Image-Url %q", resp.Status, body, imgURL)
	}
	wantPrefix := fmt.Sprintf("https://127.0.0.1:%d/i/", port)
	if !strings.HasPrefix(imgURL, wantPrefix) {
		t.Errorf("Image-Url %q: want prefix %q (X-Forwarded-Proto kept, Host with port)", imgURL, wantPrefix)
	}

	resp, err = client.Get(front + "/i/" + strings.TrimPrefix(imgURL, wantPrefix))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, img) {
		t.Fatalf("GET image through nginx: %s, %d bytes (want 200, %d bytes)", resp.Status, len(got), len(img))
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("Cache-Control %q lost through nginx", cc)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Error("ETag lost through nginx")
	}
	req, _ = http.NewRequest("GET", front+"/i/"+strings.TrimPrefix(imgURL, wantPrefix), nil)
	req.Header.Set("If-None-Match", etag)
	req.Header.Set("Range", "bytes=0-9")
	if resp, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET through nginx: %s, want 304", resp.Status)
	}
	req, _ = http.NewRequest("GET", front+"/i/"+strings.TrimPrefix(imgURL, wantPrefix), nil)
	req.Header.Set("Range", "bytes=0-9")
	if resp, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, img[:10]) {
		t.Errorf("Range GET through nginx: %s, %d bytes; want 206 with 10 bytes", resp.Status, len(part))
	}

	if resp, err = client.Get(front + "/metrics"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics through nginx: %s, want 404", resp.Status)
	}

	// Over client_max_body_size: refused from the headers alone.
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n",
		strings.TrimPrefix(loc, front), int64(config.Default().MaxSize)+16<<20)
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, " 413 ") {
		t.Errorf("oversized PATCH through nginx: %q, %v; want 413", status, err)
	}
}

// ---------------------------------------------------------------------------
// systemd

func TestSystemdUnit(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		// Not Need: systemd-analyze comes with systemd, which a container
		// image may well not have; there is nothing to verify against then.
		t.Skip("systemd-analyze not found (no systemd here); skipping the unit check")
	}
	unit := readFile(t, "systemd/tusimg.service")
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=tusimg", "ProtectSystem=strict", "ProtectHome=yes",
		"PrivateTmp=yes", "PrivateDevices=yes", "NoNewPrivileges=yes", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes", "LockPersonality=yes", "RestrictNamespaces=yes",
		"CapabilityBoundingSet=\n", "UMask=0027", "EnvironmentFile=-/etc/tusimg/env", "Restart=on-failure"} {
		if !strings.Contains(unit, want) {
			t.Errorf("tusimg.service lacks %q", strings.TrimSpace(want))
		}
	}
	// TimeoutStopSec must exceed the server's shutdown grace.
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\S+)$`).FindStringSubmatch(unit)
	if m == nil {
		t.Error("no TimeoutStopSec")
	} else if d, err := time.ParseDuration(m[1]); err != nil || d <= config.Default().ShutdownGrace {
		t.Errorf("TimeoutStopSec=%s: want more than --shutdown-grace %v", m[1], config.Default().ShutdownGrace)
	}

	// verify checks that ExecStart's binary exists: point it at one that does
	// (this test binary), keep everything else.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "tusimg.service")
	unit = strings.Replace(unit, "ExecStart=/usr/local/bin/tusimg", "ExecStart="+self, 1)
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	// verify warns about unknown keys and bad values but exits 0: any line
	// about our file is a failure.
	out, err := run(t, time.Minute, dir, []string{"SYSTEMD_LOG_LEVEL=notice"}, sa, "verify", "--man=no", path)
	var problems []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "tusimg.service") {
			problems = append(problems, line)
		}
	}
	if err != nil || len(problems) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	} else if strings.TrimSpace(out) != "" {
		t.Logf("systemd-analyze verify said (not about our unit):\n%s", out)
	}
	// The sandbox's exposure score (0 best, 10 worst) stays "OK" (<= 2.0).
	out, err = run(t, time.Minute, dir, nil, sa, "security", "--offline=true", "--threshold=20", "--no-pager", path)
	if err != nil && strings.Contains(out, "unrecognized option") {
		t.Logf("systemd-analyze security --offline not supported here: %s", out)
		return
	}
	score := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(out)
	if err != nil || score == nil {
		t.Errorf("systemd-analyze security: %v (want exposure <= 2.0)\n%s", err, out)
	} else {
		t.Logf("systemd-analyze security: exposure %s", score[1])
	}
}

// ---------------------------------------------------------------------------
// Prometheus

func TestPrometheusConfigAndRules(t *testing.T) {
	promtool := tool(t, "promtool", "apt-get install prometheus (for promtool)")
	mustRun(t, time.Minute, "prometheus", nil, promtool, "check", "config", "prometheus.yml")
	mustRun(t, time.Minute, "prometheus", nil, promtool, "check", "rules", "alerts.yml")
	out := mustRun(t, 2*time.Minute, "prometheus", nil, promtool, "test", "rules", "alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules:\n%s", out)
	}
	rules := readFile(t, "prometheus/alerts.yml")
	checkMetricNames(t, "alerts.yml", rules)
	checkMetricNames(t, "alerts_test.yml", readFile(t, "prometheus/alerts_test.yml"))
	checkMetricNames(t, "k8s/hpa-custom-metric.yaml", readFile(t, "k8s/hpa-custom-metric.yaml"))
	// Every alert has a unit test.
	tests := readFile(t, "prometheus/alerts_test.yml")
	for _, m := range regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllStringSubmatch(rules, -1) {
		if !strings.Contains(tests, "alertname: "+m[1]+"\n") {
			t.Errorf("alert %s has no test in alerts_test.yml", m[1])
		}
	}
	for _, want := range []string{"TusimgInstanceDown", "TusimgHighErrorRate", "TusimgRejectionSpike", "TusimgUploadStorageErrors", "TusimgUploadLatencyHigh"} {
		if !strings.Contains(rules, "alert: "+want+"\n") {
			t.Errorf("alerts.yml lacks %s", want)
		}
	}
}

// ---------------------------------------------------------------------------
// Grafana

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func TestGrafanaDashboard(t *testing.T) {
	raw := readFile(t, "grafana/tusimg.json")
	dec := json.NewDecoder(strings.NewReader(raw))
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("tusimg.json: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Error("dashboard needs a title and a uid")
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasDS = true
		}
	}
	if !hasDS {
		t.Error(`no "datasource" variable of type datasource (query prometheus)`)
	}
	var all []panel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	ids := map[int]bool{}
	var exprs []string
	wantPanels := map[string]bool{}
	for _, p := range all {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		wantPanels[p.Title] = true
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want uid ${datasource}", p.Title, p.Datasource)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q: empty expr", p.Title)
				continue
			}
			if !metricToken.MatchString(q.Expr) && !strings.Contains(q.Expr, "up{") &&
				!strings.Contains(q.Expr, "process_") && !strings.Contains(q.Expr, "go_") {
				t.Errorf("panel %q: expr %q uses no tusimg metric", p.Title, q.Expr)
			}
			checkMetricNames(t, "panel "+strconv.Quote(p.Title), q.Expr)
			for _, name := range regexp.MustCompile(`\b(?:go|process)_[a-z0-9_]+\b`).FindAllString(q.Expr, -1) {
				if !knownMetrics(t)[name] {
					t.Errorf("panel %q: unknown metric %q", p.Title, name)
				}
			}
			exprs = append(exprs, q.Expr)
		}
	}
	for _, want := range []string{"Uploads / s", "Upload bytes / s", "Rejections by reason", "Publish latency",
		"Image requests / s", "Image bytes / s", "In-flight uploads", "5xx / s by route"} {
		if !wantPanels[want] {
			t.Errorf("dashboard lacks the panel %q", want)
		}
	}

	// PromQL syntax: promtool parses every expression (Grafana's variables
	// replaced by values) as a recording rule.
	promtool, err := exec.LookPath("promtool")
	testserver.Need(t, err == nil, "promtool", "apt-get install prometheus (for promtool)")
	repl := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", `"$job"`, `"tusimg"`, `"$instance"`, `".*"`)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		e = repl.Replace(e)
		if strings.Contains(e, "$") {
			t.Errorf("expr %q: unknown Grafana variable", e)
		}
		q, _ := json.Marshal(e)
		fmt.Fprintf(&rules, "      - record: dashboard:expr%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, time.Minute, ".", nil, promtool, "check", "rules", path)

	// The provisioning files point at the dashboard's folder and at Prometheus.
	ds := readFile(t, "grafana/provisioning/datasources/prometheus.yaml")
	if !strings.Contains(ds, "type: prometheus") || !strings.Contains(ds, "url: http://prometheus:9090") {
		t.Error("datasource provisioning does not point at the compose Prometheus")
	}
	if !strings.Contains(readFile(t, "grafana/provisioning/dashboards/tusimg.yaml"), "path: /etc/grafana/dashboards") ||
		!strings.Contains(readFile(t, "compose.yaml"), "./grafana/tusimg.json:/etc/grafana/dashboards/tusimg.json") {
		t.Error("dashboard provisioning path and compose mount disagree")
	}
}

// ---------------------------------------------------------------------------
// Kubernetes

// k8sDocs returns the apiVersion/kind of every document in a YAML stream.
func k8sDocs(text string) [][2]string {
	var out [][2]string
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(text, -1) {
		av := regexp.MustCompile(`(?m)^apiVersion:\s*(\S+)`).FindStringSubmatch(doc)
		k := regexp.MustCompile(`(?m)^kind:\s*(\S+)`).FindStringSubmatch(doc)
		if av != nil && k != nil {
			out = append(out, [2]string{av[1], k[1]})
		}
	}
	return out
}

// k8sSchemas writes, for each apiVersion/kind, a strict JSON schema in the
// layout kubeconform's -schema-location template {{.ResourceKind}}{{.KindSuffix}}.json
// expects, made from Kubernetes' own OpenAPI document (the one the API
// server serves), the way kubernetes-json-schema's openapi2jsonschema does:
// additionalProperties false on every object with properties (so unknown
// fields fail), int-or-string and quantities accepting both types.
func k8sSchemas(t *testing.T, dir string, kinds [][2]string) {
	t.Helper()
	goBin := tool(t, "go", "https://go.dev/dl")
	// From the module cache only: no network here. .ci/run (or a developer)
	// downloads it once.
	out, err := run(t, 2*time.Minute, t.TempDir(), []string{"GOPROXY=off", "GOFLAGS=", "GOWORK=off", "GO111MODULE=on"},
		goBin, "mod", "download", "-json", "k8s.io/kubernetes@"+K8sVersion)
	var mod struct{ Dir, Error string }
	_ = json.Unmarshal([]byte(out), &mod)
	testserver.Need(t, err == nil && mod.Dir != "", "Kubernetes OpenAPI spec (module k8s.io/kubernetes@"+K8sVersion+" in the Go module cache)",
		"go mod download k8s.io/kubernetes@"+K8sVersion+" (outside this module, e.g. cd /tmp)")
	var spec struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(mod.Dir, "api/openapi-spec/swagger.json"))), &spec); err != nil {
		t.Fatal(err)
	}
	defs := spec.Definitions
	either := func(a, b string) map[string]any {
		return map[string]any{"oneOf": []any{map[string]any{"type": a}, map[string]any{"type": b}}}
	}
	defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = either("string", "integer")
	defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = either("string", "number")
	var strict func(v any)
	strict = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if props, ok := x["properties"].(map[string]any); ok {
				if _, set := x["additionalProperties"]; !set {
					x["additionalProperties"] = false
				}
				for _, p := range props {
					strict(p)
				}
			}
			for _, k := range []string{"items", "additionalProperties"} {
				if sub, ok := x[k].(map[string]any); ok {
					strict(sub)
				}
			}
		}
	}
	for _, d := range defs {
		strict(d)
	}
	defsJSON, err := json.Marshal(defs)
	if err != nil {
		t.Fatal(err)
	}
	// Find each kind's definition by its x-kubernetes-group-version-kind.
	type gvk struct{ group, version, kind string }
	byGVK := map[gvk]string{}
	for name, d := range defs {
		list, _ := d["x-kubernetes-group-version-kind"].([]any)
		for _, e := range list {
			m, _ := e.(map[string]any)
			g, _ := m["group"].(string)
			v, _ := m["version"].(string)
			k, _ := m["kind"].(string)
			byGVK[gvk{g, v, k}] = name
		}
	}
	for _, ak := range kinds {
		group, version, found := strings.Cut(ak[0], "/")
		if !found {
			group, version = "", ak[0]
		}
		name, ok := byGVK[gvk{group, version, ak[1]}]
		if !ok {
			t.Errorf("%s %s is not a Kubernetes %s API", ak[0], ak[1], K8sVersion)
			continue
		}
		suffix := "-" + strings.ToLower(strings.Split(strings.Split(ak[0], "/")[0], ".")[0])
		if found {
			suffix += "-" + strings.ToLower(version)
		}
		file := filepath.Join(dir, strings.ToLower(ak[1])+suffix+".json")
		var b bytes.Buffer
		fmt.Fprintf(&b, `{"$schema":"http://json-schema.org/draft-07/schema#","$ref":"#/definitions/%s","definitions":`, name)
		b.Write(defsJSON)
		b.WriteString("}")
		if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	kubeconform := tool(t, "kubeconform", "go install github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0")
	kustomize := tool(t, "kustomize", "go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.2")

	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var manifests []string
	var all strings.Builder
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		manifests = append(manifests, abs(t, f))
		all.WriteString(readFile(t, f) + "\n---\n")
	}
	work := t.TempDir()
	built := mustRun(t, 2*time.Minute, "k8s", nil, kustomize, "build", ".")
	builtPath := filepath.Join(work, "kustomize-build.yaml")
	if err := os.WriteFile(builtPath, []byte(built), 0o644); err != nil {
		t.Fatal(err)
	}
	// A manifest that must fail: an unknown field, a wrong type, a missing
	// required field. If it passes, the validation is not validating.
	bad := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  selector:
    matchLabels: {app: bad}
  template:
    metadata:
      labels: {app: bad}
    spec:
      containers:
        - name: bad
          image: bad
          imagePullPolice: Always
          ports:
            - containerPort: "8080"
`
	badPath := filepath.Join(work, "bad.yaml")
	if err := os.WriteFile(badPath, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}

	schemas := filepath.Join(work, "schemas")
	if err := os.Mkdir(schemas, 0o755); err != nil {
		t.Fatal(err)
	}
	seen := map[[2]string]bool{}
	var kinds [][2]string
	for _, ak := range append(k8sDocs(all.String()+built), k8sDocs(bad)...) {
		if !seen[ak] {
			seen[ak] = true
			kinds = append(kinds, ak)
		}
	}
	k8sSchemas(t, schemas, kinds)
	if t.Failed() {
		return
	}
	loc := filepath.Join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json")
	args := append([]string{"-strict", "-summary", "-schema-location", loc, builtPath}, manifests...)
	out, err := run(t, 3*time.Minute, ".", nil, kubeconform, args...)
	if err != nil || !regexp.MustCompile(`Invalid: 0, Errors: 0, Skipped: 0\b`).MatchString(out) {
		t.Errorf("kubeconform: %v\n%s", err, out)
	} else {
		t.Log(strings.TrimSpace(out))
	}
	out, err = run(t, time.Minute, ".", nil, kubeconform, "-strict", "-summary", "-schema-location", loc, badPath)
	if err == nil || !strings.Contains(out, "imagePullPolice") || !strings.Contains(out, "containerPort") {
		t.Errorf("kubeconform accepted (or misjudged) a broken Deployment: %v\n%s", err, out)
	}

	// Policy the schemas cannot express.
	dep := readFile(t, "k8s/deployment.yaml")
	for _, want := range []string{"path: /healthz", "path: /readyz", "runAsNonRoot: true", "readOnlyRootFilesystem: true",
		"allowPrivilegeEscalation: false", `drop: ["ALL"]`, "type: RuntimeDefault", "emptyDir:", "requests:", "limits:"} {
		if !strings.Contains(dep, want) {
			t.Errorf("deployment.yaml lacks %q", want)
		}
	}
	for _, want := range []string{"kind: HorizontalPodAutoscaler", "kind: PodDisruptionBudget", "kind: Service\n",
		"kind: ConfigMap", "kind: Deployment", "kind: Namespace", "kind: ServiceAccount"} {
		if !strings.Contains(built, want) {
			t.Errorf("kustomize build output lacks %q", strings.TrimSpace(want))
		}
	}
	if !strings.Contains(readFile(t, "k8s/hpa-custom-metric.yaml"), "name: tusimg_uploads_in_flight") {
		t.Error("hpa-custom-metric.yaml does not scale on tusimg_uploads_in_flight")
	}
	// The data directory is a subdirectory of a mounted emptyDir: the
	// emptyDir itself is world-writable (0777), which tusimg refuses.
	data := envAssignments(readFile(t, "k8s/configmap.yaml"))["TUSIMG_DATA"]
	inMount := false
	for _, m := range regexp.MustCompile(`mountPath: (\S+)`).FindAllStringSubmatch(dep, -1) {
		if strings.HasPrefix(data, strings.TrimSuffix(m[1], "/")+"/") {
			inMount = true
		}
	}
	if !inMount {
		t.Errorf("configmap TUSIMG_DATA=%q: want a subdirectory of an emptyDir mountPath", data)
	}
	// terminationGracePeriodSeconds covers the preStop sleep plus the
	// shutdown grace.
	tg := regexp.MustCompile(`terminationGracePeriodSeconds: (\d+)`).FindStringSubmatch(dep)
	sl := regexp.MustCompile(`sleep:\s*\n\s*seconds: (\d+)`).FindStringSubmatch(dep)
	if tg == nil || sl == nil {
		t.Error("deployment.yaml: terminationGracePeriodSeconds or preStop sleep missing")
	} else {
		g, _ := strconv.Atoi(tg[1])
		s, _ := strconv.Atoi(sl[1])
		if time.Duration(g-s)*time.Second <= config.Default().ShutdownGrace {
			t.Errorf("terminationGracePeriodSeconds %d - preStop %ds does not exceed --shutdown-grace %v", g, s, config.Default().ShutdownGrace)
		}
	}
}
