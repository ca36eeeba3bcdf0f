package main

// ballast makes the garbage collector pace itself as if the heap held at
// least --gc-floor more bytes: with a live heap of a few MB it would
// otherwise collect every few MB allocated, marking the same long-lived
// objects each time (measured: about 2 us of a 50 us GET). A []byte holds
// no pointers, so no collection scans it, and its pages are never written,
// so they are not resident; what the floor costs is the garbage that may
// pile up to the higher goal between collections.
var ballast []byte

// setGCFloor sets the floor; 0 removes it.
func setGCFloor(n int64) {
	ballast = nil
	if n > 0 {
		ballast = make([]byte, n)
	}
}

// gcFloor is the floor in force, in bytes.
func gcFloor() int { return len(ballast) }
