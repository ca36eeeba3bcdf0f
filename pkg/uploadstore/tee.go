package uploadstore

import (
	"hash"
	"io"
	"sync"

	"github.com/tusimg/tusimg/pkg/httperr"
)

// teeReader hashes what it reads and collects the first want bytes for the
// sniffer, which it calls as soon as they are complete.
type teeReader struct {
	r        io.Reader
	h        hash.Hash
	n        int64
	expect   int64 // bytes this chunk is expected to carry (0: unknown)
	want     int
	prefix   []byte
	pooled   *[]byte // prefix's buffer came from prefixBufs
	sniff    func([]byte) (string, error)
	done     bool
	sniffed  string
	rejected *httperr.Error
	pipe     *pipeHash
	prev     <-chan struct{} // h is in use until this closes (see liveHash)
	chunk    hash.Hash       // Upload-Checksum of this chunk, if the client sent one
	noPipe   bool            // no pipeline slot was free: hash inline to the end
	lost     bool            // the hash state fell behind: don't hash (see hashState.Lost)
	progress *Progress       // when the request last received bytes (see Polite)
	capture  *[]byte         // a copy of the whole upload (see capture.go), or nil
}

// prefixBufs recycles the sniff prefixes (imagecheck.SniffLen is 3 KiB):
// every upload collects one. A prefix is not kept past WriteChunk (the
// hash state stores a copy).
var prefixBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// releasePrefix hands a pooled prefix back; t.prefix is unusable after it.
func (t *teeReader) releasePrefix() {
	if t.pooled != nil {
		*t.pooled = t.prefix[:0]
		prefixBufs.Put(t.pooled)
		t.pooled, t.prefix = nil, nil
	}
}

// startPipe starts the hashing pipeline when this chunk is large enough:
// from the first byte when the chunk is known to be large, else once
// pipeAfter bytes went through inline.
func (t *teeReader) startPipe() {
	if t.pipe == nil && !t.noPipe && !t.lost && (t.n >= pipeAfter || t.expect >= pipeAfter) {
		t.pipe = newPipeHash(t.h, t.prev)
		t.noPipe = t.pipe == nil
		if t.pipe != nil {
			t.prev = nil
		}
	}
}

// waitPrev waits until no earlier chunk's pipeline writes to h.
func (t *teeReader) waitPrev() {
	if t.prev != nil {
		<-t.prev
		t.prev = nil
	}
}

// hash feeds b to the hasher: inline for small chunks, through a pipeline
// (which copies b) for large ones when one is free.
func (t *teeReader) hash(b []byte) {
	t.startPipe()
	if t.pipe != nil {
		t.pipe.Write(b)
		return
	}
	t.waitPrev()
	t.h.Write(b)
}

// WriteTo lets io.Copy (in tusd's filestore) use our buffers: 32 KiB for a
// small chunk, and for a chunk large enough to be pipelined, 1 MiB blocks
// that are read into, written to the store and then handed to the hasher
// without a copy. That cuts the read and write system calls per byte by 32
// and keeps SHA-256 off the request goroutine, without giving every one of
// many small uploads a big buffer.
func (t *teeReader) WriteTo(w io.Writer) (int64, error) {
	small := smallBufs.Get().(*[]byte)
	defer smallBufs.Put(small)
	buf := *small
	var written int64
	for {
		if t.startPipe(); t.pipe != nil {
			return t.writeToPiped(w, written)
		}
		rbuf := buf
		if c := t.capture; c != nil && cap(*c) > len(*c) {
			// Read straight into the capture: account keeps it in place.
			rbuf = (*c)[len(*c):cap(*c)]
		}
		n, rerr := t.Read(rbuf)
		if n > 0 {
			wn, werr := writeSlices(w, rbuf[:n])
			written += int64(wn)
			if werr != nil {
				return written, werr
			}
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
		if n == len(buf) && len(buf) < midBuf && (t.expect-t.n >= midBuf/2 || t.noPipe && t.n >= pipeAfter) {
			// The body arrives faster than a buffer a read, and much of
			// it is left: read the rest in fewer, larger calls. A slow
			// client never fills a read, so it never holds a big buffer.
			mid := midBufs.Get().(*[]byte)
			defer midBufs.Put(mid)
			buf = *mid
		}
	}
}

// writeToPiped is WriteTo once the pipeline runs: each block is filled to at
// least pipeFill bytes (or the end of the body, or a read shorter than
// slowRead, so bytes of a slow client are not held back), written, and
// handed to the hasher, which returns it to the pool.
func (t *teeReader) writeToPiped(w io.Writer, written int64) (int64, error) {
	for {
		blk := blockPool.Get().(*[]byte)
		b := (*blk)[:cap(*blk)]
		n := 0
		var rerr error
		for n < pipeFill && rerr == nil {
			var k int
			k, rerr = t.r.Read(b[n:])
			if k > 0 {
				if err := t.account(b[n : n+k]); err != nil {
					rerr = err
				}
				n += k
			}
			if k < slowRead {
				break // a slow client: store what came without waiting for more
			}
		}
		var werr error
		if n > 0 {
			var wn int
			wn, werr = writeSlices(w, b[:n])
			written += int64(wn)
		}
		// Hashed whatever the write did: the hash covers t.n bytes, and
		// afterChunk compares t.n with what the store kept.
		*blk = b[:n]
		t.pipe.submit(blk)
		switch {
		case werr != nil:
			return written, werr
		case rerr == io.EOF:
			return written, nil
		case rerr != nil:
			return written, rerr
		}
	}
}

// writeSlice is the most bytes handed to the store in one write. A write
// system call that lasts more than about 20 us lets Go's sysmon take the
// goroutine's P away and hand it back when the call returns, churn that
// cost about 8% of a large upload's CPU with 1 MiB writes to tmpfs (about
// 300 us each); 64 KiB writes take about 20 us and were 6% faster on a
// 1 GiB upload. Reads are not sliced: from a socket they return what has
// arrived, and smaller reads measured slower.
const writeSlice = 64 << 10

// writeSlices writes b to w in pieces of at most writeSlice bytes.
func writeSlices(w io.Writer, b []byte) (int, error) {
	written := 0
	for written < len(b) {
		piece := b[written:min(len(b), written+writeSlice)]
		n, err := w.Write(piece)
		written += n
		if err == nil && n != len(piece) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// midBuf is the read size of a fast chunk that is not pipelined.
const midBuf = 256 << 10

// slowRead: a read of fewer bytes than this means the body trickles in.
const slowRead = 16 << 10

var (
	smallBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
	midBufs   = sync.Pool{New: func() any { b := make([]byte, midBuf); return &b }}
)

// closePipe waits for the pipeline, if any, and an earlier chunk's; t.h is
// then complete.
func (t *teeReader) closePipe() {
	t.waitPrev()
	if t.pipe != nil {
		t.pipe.Close()
		t.pipe = nil
	}
}

// Read reads from the body, hashing what it returns.
func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n <= 0 {
		return n, err
	}
	if !t.lost {
		t.hash(p[:n])
	}
	if aerr := t.account(p[:n]); aerr != nil {
		return n, aerr
	}
	return n, err
}

// account does for b, just read, everything but the hash: progress, the
// chunk checksum, the byte count and the sniffing prefix. It returns the
// rejection when the completed prefix is not an allowed type.
func (t *teeReader) account(b []byte) error {
	if t.progress != nil {
		t.progress.Touch()
	}
	if t.chunk != nil {
		t.chunk.Write(b)
	}
	t.n += int64(len(b))
	if c := t.capture; c != nil {
		switch end := len(*c) + len(b); {
		case end > cap(*c): // more than declared: give up
			releaseCapture(c)
			t.capture = nil
		case len(b) > 0 && &(*c)[:end][len(*c)] == &b[0]: // read in place (WriteTo)
			*c = (*c)[:end]
		default:
			*c = append(*c, b...)
		}
	}
	if t.want > 0 && !t.done {
		k := min(t.want-len(t.prefix), len(b))
		t.prefix = append(t.prefix, b[:k]...)
		if len(t.prefix) == t.want {
			t.done = true
			typ, serr := t.sniff(t.prefix)
			if serr != nil {
				t.rejected = httperr.As(serr)
				return t.rejected
			}
			t.sniffed = typ
		}
	}
	return nil
}
