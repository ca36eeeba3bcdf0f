//go:build !amd64 || purego

package imagecheck

// adler32Update returns the Adler-32 of a stream whose Adler-32 so far is
// adler, continued with p.
func adler32Update(adler uint32, p []byte) uint32 { return adler32Generic(adler, p) }
