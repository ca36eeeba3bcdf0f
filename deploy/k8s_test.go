package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/config"
)

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
