package server_test

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/bench"
	"github.com/tusimg/tusimg/pkg/config"
)

// TestRequestGraceBoundsPerRequestState: tusd keeps a goroutine, a timer
// and the request's context for --request-grace after every request. They
// must be there right after the uploads and gone soon after the grace, so
// that a busy server does not hold tens of thousands of them.
func TestRequestGraceBoundsPerRequestState(t *testing.T) {
	const grace = 300 * time.Millisecond
	ts := testserver.Start(t, func(c *config.Config) { c.RequestGrace = grace })
	c := benchClient()
	img, err := bench.NewPNG(4<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	base := img.Bytes()
	idle := runtime.NumGoroutine()
	const uploads = 40
	for i := range uploads {
		b, err := bench.InsertText(base, "n", strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		if err := tusUpload(c, ts.URL, b, false); err != nil {
			t.Fatal(err)
		}
	}
	c.CloseIdleConnections()
	if busy := runtime.NumGoroutine(); busy < idle+uploads/2 {
		t.Fatalf("%d goroutines right after %d uploads, %d before: tusd's per-request ones are not there", busy, uploads, idle)
	}
	deadline := time.Now().Add(grace + 5*time.Second)
	for runtime.NumGoroutine() > idle+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > idle+2 {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines %v after the uploads, %d before; stacks:\n%s", n, grace+5*time.Second, idle,
			buf[:runtime.Stack(buf, true)])
	}
}
