package server_test

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/bench"
	"github.com/tusimg/tusimg/pkg/config"
)

// TestRequestGraceBoundsPerRequestState: tusd keeps a goroutine, a timer
// and the request's context for --request-grace after every request. They
// must be there right after the uploads and gone soon after the grace, so
// that a busy server does not hold tens of thousands of them. Only tusd's
// delayed-context goroutines are counted: earlier tests' servers may still
// have some, which end within their own (default) grace.
func TestRequestGraceBoundsPerRequestState(t *testing.T) {
	const grace = 300 * time.Millisecond
	ts := testserver.Start(t, func(c *config.Config) { c.RequestGrace = grace })
	c := benchClient()
	img, err := bench.NewPNG(4<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	base := img.Bytes()
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
	if n := delayedContexts(); n < uploads {
		t.Fatalf("%d of tusd's delayed-context goroutines right after %d uploads (%d requests): not there?", n, uploads, 2*uploads)
	}
	wait := config.Default().Grace() + 3*time.Second // earlier tests' servers use the default
	deadline := time.Now().Add(wait)
	for delayedContexts() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := delayedContexts(); n > 0 {
		t.Fatalf("%d of tusd's delayed-context goroutines %v after the uploads", n, wait)
	}
}

// delayedContexts counts the goroutines parked in tusd's newDelayedContext.
func delayedContexts() int {
	buf := make([]byte, 8<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "created by github.com/tus/tusd/v2/pkg/handler.newDelayedContext")
}
