package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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
