package server_test

import (
	"bytes"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/tusimg/tusimg/internal/testserver"
)

// TestMetricsPromtool checks /metrics after real traffic: our series are
// there with the right values, and promtool parses the output and finds no
// lint problem in any tusimg_ metric (tusd's inherited names may draw
// warnings, exit 3; a parse error, exit 1, fails).
func TestMetricsPromtool(t *testing.T) {
	ts := testserver.Start(t, nil)
	img := readTestdata(t, "ok.png")
	url := create(t, ts, len(img), metadata("filename", "a.png"))
	patch(t, url, 0, img)
	url = create(t, ts, len(img), metadata("filename", "b.png"))
	patch(t, url, 0, img) // dedup hit
	bad := readTestdata(t, "html_as.png")
	url = create(t, ts, len(bad), metadata("filename", "c.png"))
	patch(t, url, 0, bad)
	get(t, ts.URL+"/i/"+sha(img))

	resp, body := get(t, ts.URL+"/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		`tusimg_images_published_total{type="png"} 2`,
		`tusimg_dedup_hits_total 1`,
		`tusimg_uploads_rejected_total{reason="type_not_allowed"} 1`,
		`tusimg_publish_duration_seconds_count 2`,
		`tusimg_http_requests_total{code="204",route="tus"}`,
		`tusimg_serve_bytes_total ` + strconv.Itoa(len(img)),
		`tusimg_uploads_expired_total 0`,
		`tusd_uploads_finished 2`,
		`go_goroutines`, `process_resident_memory_bytes`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	promtool, err := exec.LookPath("promtool")
	testserver.Need(t, err == nil, "promtool", "apt-get install prometheus")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 3) {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "tusimg_") {
			t.Errorf("promtool lint on our metric: %s", line)
		}
	}
	t.Logf("promtool (tusd's own names only):\n%s", out)
}
