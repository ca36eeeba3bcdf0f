package deploy

import (
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
)

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
