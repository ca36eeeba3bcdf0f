package imagecheck

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tusimg/tusimg/pkg/httperr"
)

// readTestdata returns the contents of testdata/name.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newChecker returns a Checker for p, failing the test on error.
func newChecker(t testing.TB, p Policy) *Checker {
	t.Helper()
	c, err := New(p)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// check runs c.Check on b.
func check(c *Checker, b []byte, m Meta) (Result, error) {
	return c.Check(context.Background(), bytes.NewReader(b), int64(len(b)), m)
}

// wantHTTPErr asserts err is an *httperr.Error with status and code whose
// public message does not leak its internal cause, and returns it.
func wantHTTPErr(t testing.TB, err error, status int, code string) *httperr.Error {
	t.Helper()
	var e *httperr.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *httperr.Error %d %s", err, err, status, code)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("error = %d %s (%v), want %d %s", e.Status, e.Code, e, status, code)
	}
	if e.Message == "" {
		t.Errorf("empty public message")
	}
	if e.Cause != nil && strings.Contains(e.Message, e.Cause.Error()) {
		t.Errorf("message %q leaks the cause %q", e.Message, e.Cause)
	}
	return e
}

// mutate returns a copy of b with f applied.
func mutate(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }
