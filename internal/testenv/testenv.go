// Package testenv says how a test treats a missing external component: skip
// with a message on a developer machine, fail in CI (CI=true). It also holds
// SyncBuffer, which many tests use to read a server's log. It imports
// nothing of tusimg, so any package's tests can use it.
package testenv

import (
	"os"
	"testing"
)

// InCI reports whether tests run in CI (CI=true), where every external
// component is required.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need skips the test when a component is missing on a developer machine,
// and fails it in CI, with a message saying how to install it.
func Need(t testing.TB, ok bool, what, install string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("%s is required in CI but missing (install: %s)", what, install)
	}
	t.Skipf("%s missing; skipping (install: %s)", what, install)
}
