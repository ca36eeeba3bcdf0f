package main

import (
	"runtime"
	"runtime/metrics"
	"testing"
)

func heapGoal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestGCFloor checks that --gc-floor raises the collector's heap goal above
// the floor, and that 0 gives Go's own pacing back.
func TestGCFloor(t *testing.T) {
	defer setGCFloor(0)
	setGCFloor(0)
	runtime.GC()
	base := heapGoal()
	setGCFloor(64 << 20)
	if gcFloor() != 64<<20 {
		t.Fatalf("floor %d bytes, want %d", gcFloor(), 64<<20)
	}
	runtime.GC()
	if got := heapGoal(); got < 64<<20 || got < base {
		t.Fatalf("heap goal with a 64 MiB floor: %d bytes (without: %d)", got, base)
	}
	setGCFloor(0)
	runtime.GC()
	if got := heapGoal(); got >= 64<<20 {
		t.Fatalf("heap goal after removing the floor: %d bytes", got)
	}
}
