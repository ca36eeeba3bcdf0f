package redislock_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"
	xslog "golang.org/x/exp/slog"

	"github.com/tusimg/tusimg/pkg/redislock"
)

// Two real tusd handlers (two "instances") on one upload directory and one
// Redis: a HEAD on B while A's PATCH is still streaming makes A's PATCH stop
// (through the release request) and then sees the bytes A received.
func TestTusdHandlersShareLocks(t *testing.T) {
	srv := startRedis(t)
	dir := t.TempDir()
	newHandler := func() *httptest.Server {
		comp := handler.NewStoreComposer()
		filestore.New(dir).UseIn(comp)
		newInstance(t, srv, redislock.Options{Prefix: prefix}).UseIn(comp)
		h, err := handler.NewHandler(handler.Config{BasePath: "/files/", StoreComposer: comp, Logger: xslog.New(xslog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatalf("tusd NewHandler: %v", err)
		}
		s := httptest.NewServer(http.StripPrefix("/files/", h))
		t.Cleanup(s.Close)
		return s
	}
	a, b := newHandler(), newHandler()

	id := createUpload(t, a.URL, 100)
	body, w := io.Pipe()
	defer w.Close()
	patchDone := make(chan struct{})
	go func() {
		defer close(patchDone)
		req, _ := http.NewRequest(http.MethodPatch, a.URL+"/files/"+id, body)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", "0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	if _, err := w.Write([]byte("0123456789")); err != nil {
		t.Fatalf("write PATCH body: %v", err)
	}
	waitFileSize(t, filepath.Join(dir, id), 10)

	start := time.Now()
	req, _ := http.NewRequest(http.MethodHead, b.URL+"/files/"+id, nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("HEAD on B: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != "10" {
		t.Fatalf("HEAD on B: %d, Upload-Offset %q; want 200, 10", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	t.Logf("HEAD on B answered after %v", time.Since(start))
	select {
	case <-patchDone:
	case <-time.After(5 * time.Second):
		t.Fatal("A's PATCH was not interrupted")
	}
}

func createUpload(t *testing.T, base string, length int) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/files/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(length))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	_ = resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		t.Fatalf("POST: %d, Location %q", resp.StatusCode, loc)
	}
	return loc[strings.LastIndex(loc, "/")+1:]
}

func waitFileSize(t *testing.T, path string, size int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() >= size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %d bytes", path, size)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
