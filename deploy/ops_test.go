package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/config"
)

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
