package contentstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/pkg/s3blob"
)

// TestS3Ready: ready while the server runs, an error within the probe's
// timeout while it is down, ready again after a restart.
func TestS3Ready(t *testing.T) {
	e := newS3Env(t, "")
	probe := func() (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		err := e.store.Ready(ctx)
		return time.Since(start), err
	}
	if _, err := probe(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	e.srv.Stop()
	took, err := probe()
	if err == nil {
		t.Fatal("Ready succeeded with the server down")
	}
	if took > 2*time.Second {
		t.Errorf("Ready took %s to fail with the server down", took)
	}
	t.Logf("Ready with the server down failed in %s: %v", took, err)

	e.srv.Restart()
	e.srv.Pause()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	start := time.Now()
	err = e.store.Ready(ctx)
	cancel()
	took = time.Since(start)
	e.srv.Resume()
	if err == nil || took > 2*time.Second {
		t.Errorf("Ready on a hung server: %v after %s; want an error after about 500ms", err, took)
	}
	e.srv.Restart()
	if _, err := probe(); err != nil {
		t.Fatalf("Ready after restart: %v", err)
	}
	if keys := listKeys(t, e, ".ready/"); len(keys) != 0 {
		t.Errorf("probe objects left: %v", keys)
	}
	other, err := NewS3(e.srv.Client, s3blob.Options{Bucket: "no-such-bucket"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Ready(context.Background()); err == nil {
		t.Error("Ready succeeded on a missing bucket")
	}
}

// TestS3PresignGet fetches a presigned URL with plain net/http.
func TestS3PresignGet(t *testing.T) {
	e := newS3Env(t, "")
	ctx := context.Background()
	data := randomData(3000)
	src, sha := writeSource(t, e.base, data)
	rec := pngRecord(sha)
	rec.Type = "image/webp"
	if _, _, err := e.store.PublishFile(ctx, src, rec); err != nil {
		t.Fatal(err)
	}
	u, err := e.store.PresignGet(ctx, sha, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, e.srv.Endpoint+"/") {
		t.Fatalf("URL %q not on the endpoint", u)
	}
	for _, tt := range []struct {
		rng    string
		status int
		body   []byte
	}{{"", 200, data}, {"bytes=10-19", 206, data[10:20]}} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if tt.rng != "" {
			req.Header.Set("Range", tt.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !bytes.Equal(body, tt.body) {
			t.Errorf("range %q: status %d, %d bytes; want %d, %d", tt.rng, resp.StatusCode, len(body), tt.status, len(tt.body))
		}
		if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "image/webp" || cc != imageCacheControl {
			t.Errorf("range %q: Content-Type %q, Cache-Control %q", tt.rng, ct, cc)
		}
	}
	if _, err := e.store.PresignGet(ctx, strings.Repeat("0", 64), time.Minute); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown hash: %v", err)
	}
	for _, ttl := range []time.Duration{0, -time.Second, 8 * 24 * time.Hour} {
		if _, err := e.store.PresignGet(ctx, sha, ttl); err == nil {
			t.Errorf("ttl %s accepted", ttl)
		}
	}
}

// TestS3OpenIsLazy counts the GETs of image bytes behind Object operations.
func TestS3OpenIsLazy(t *testing.T) {
	e := newS3Env(t, "")
	ctx := context.Background()
	data := randomData(300 << 10)
	rec := publishTo(t, e.store, e.base, data, time.Now())
	e.reqs.take()
	steps := []struct {
		name string
		do   func(Object) error
		gets int
	}{
		{"seek only", func(o Object) error {
			_, err := o.Seek(0, io.SeekEnd)
			if err == nil {
				_, err = o.Seek(100, io.SeekStart)
			}
			return err
		}, 0},
		{"read all", func(o Object) error { _, err := io.Copy(io.Discard, o); return err }, 1},
		{"range then close", func(o Object) error {
			_, err := o.Seek(1000, io.SeekStart)
			if err == nil {
				_, err = io.CopyN(io.Discard, o, 10)
			}
			return err
		}, 1},
		{"sequential small reads", func(o Object) error {
			buf := make([]byte, 100)
			for range 50 {
				if _, err := io.ReadFull(o, buf); err != nil {
					return err
				}
			}
			return nil
		}, 1},
		{"seek back", func(o Object) error {
			if _, err := io.CopyN(io.Discard, o, 10); err != nil {
				return err
			}
			if _, err := o.Seek(0, io.SeekStart); err != nil {
				return err
			}
			_, err := io.CopyN(io.Discard, o, 10)
			return err
		}, 2},
	}
	for _, tt := range steps {
		obj, err := e.store.Open(ctx, rec.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if err := tt.do(obj); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if err := obj.Close(); err != nil {
			t.Fatal(err)
		}
		if _, gets := e.reqs.take(); gets != tt.gets {
			t.Errorf("%s: %d GETs of the image, want %d", tt.name, gets, tt.gets)
		}
	}
}

func TestNewS3Rejects(t *testing.T) {
	e := newS3Env(t, "")
	if _, err := NewS3(nil, s3blob.Options{Bucket: "b"}, nil); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := NewS3(e.srv.Client, s3blob.Options{}, nil); err == nil {
		t.Error("empty bucket accepted")
	}
}

// TestMarkerOrder: marker names sort newest first, ties by descending hash,
// and parse back.
func TestMarkerOrder(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	lo, hi := strings.Repeat("0", 63)+"1", "f"+strings.Repeat("e", 63)
	names := []string{markerName(t0, lo), markerName(t0.Add(time.Nanosecond), lo), markerName(t0, hi),
		markerName(time.Unix(0, 0), hi), markerName(time.Unix(-5, 0), lo)}
	sorted := slices.Sorted(slices.Values(names))
	want := []string{names[1], names[2], names[0], names[3], names[4]}
	if !slices.Equal(sorted, want) {
		t.Errorf("order:\n%v\nwant\n%v", sorted, want)
	}
	for _, n := range names[:3] {
		sha, nanos, ok := parseMarker(n)
		if !ok || (sha != lo && sha != hi) || nanos < t0.UnixNano() {
			t.Errorf("parseMarker(%q) = %q, %d, %v", n, sha, nanos, ok)
		}
	}
	for _, bad := range []string{"", "garbage", "123-" + lo, strings.Repeat("9", 19) + "-" + lo[:63], strings.Repeat("x", 19) + "-" + lo} {
		if _, _, ok := parseMarker(bad); ok {
			t.Errorf("parseMarker(%q) ok", bad)
		}
	}
	if hexInvert(hexInvert(hi)) != hi {
		t.Error("hexInvert is not its own inverse")
	}
}
