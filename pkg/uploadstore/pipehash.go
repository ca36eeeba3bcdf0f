package uploadstore

import (
	"hash"
	"runtime"
	"sync"
)

// Hashing a large chunk on the request goroutine serialises SHA-256 with
// the socket reads and file writes. pipeHash moves it to a goroutine of its
// own, fed with copies of the bytes in large blocks, so on a multi-core
// machine the hash is hidden behind the I/O. Small chunks are hashed inline
// (the copy and hand-off would cost more than they save), and at most
// maxPipes uploads pipeline at once, which bounds the extra memory to
// maxPipes x pipeDepth x pipeBlock.
const (
	pipeAfter = 1 << 20   // bytes of a chunk hashed inline before pipelining
	pipeBlock = 256 << 10 // bytes per hand-off
	pipeDepth = 4         // blocks in flight per upload
)

var (
	maxPipes  = 2 * runtime.NumCPU()
	pipeSlots = make(chan struct{}, maxPipes)
	blockPool = sync.Pool{New: func() any { b := make([]byte, 0, pipeBlock); return &b }}
)

// pipeHash is an io.Writer that hashes in a background goroutine. Close
// must be called; after it returns, h holds everything written.
type pipeHash struct {
	h    hash.Hash
	ch   chan *[]byte
	done chan struct{}
	cur  *[]byte
}

// newPipeHash starts a pipeline for h, or returns nil when all pipeline slots
// are taken (the caller then hashes inline).
func newPipeHash(h hash.Hash) *pipeHash {
	select {
	case pipeSlots <- struct{}{}:
	default:
		return nil
	}
	p := &pipeHash{h: h, ch: make(chan *[]byte, pipeDepth), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for b := range p.ch {
			p.h.Write(*b)
			*b = (*b)[:0]
			blockPool.Put(b)
		}
	}()
	return p
}

// Write copies b into blocks and hands full blocks to the hasher.
func (p *pipeHash) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if p.cur == nil {
			p.cur = blockPool.Get().(*[]byte)
		}
		k := copy((*p.cur)[len(*p.cur):cap(*p.cur)], b)
		*p.cur = (*p.cur)[:len(*p.cur)+k]
		b = b[k:]
		if len(*p.cur) == cap(*p.cur) {
			p.ch <- p.cur
			p.cur = nil
		}
	}
	return n, nil
}

// Close flushes the last block and waits until everything is hashed.
func (p *pipeHash) Close() {
	if p.cur != nil && len(*p.cur) > 0 {
		p.ch <- p.cur
	}
	p.cur = nil
	close(p.ch)
	<-p.done
	<-pipeSlots
}
