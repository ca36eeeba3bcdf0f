package uploadstore

import (
	"hash"
	"runtime"
	"sync"
)

// Hashing a large chunk on the request goroutine serialises SHA-256 with
// the socket reads and file writes. pipeHash moves it to a goroutine of its
// own, fed in large blocks, so on a multi-core machine the hash is hidden
// behind the I/O. Small chunks are hashed inline (the hand-off would cost
// more than it saves), and at most maxPipes uploads pipeline at once, which
// bounds the extra memory to maxPipes x (pipeDepth+2) x pipeBlock.
const (
	pipeAfter = 1 << 20   // a chunk this large (known or seen so far) is pipelined
	pipeBlock = 1 << 20   // bytes per block
	pipeFill  = 256 << 10 // a block is handed on once it holds this much
	pipeDepth = 8         // blocks queued per upload (3 was about 5% slower on 1 GiB)
)

var (
	maxPipes  = 2 * runtime.NumCPU()
	pipeSlots = make(chan struct{}, maxPipes)
	blockPool = sync.Pool{New: func() any { b := make([]byte, 0, pipeBlock); return &b }}
)

// pipeHash is an io.Writer that hashes in a background goroutine. Close (or
// closeThen) must be called; once done is closed, h holds everything
// written.
type pipeHash struct {
	h     hash.Hash
	ch    chan *[]byte
	done  chan struct{}
	cur   *[]byte
	after func() // run by the goroutine once everything is hashed
}

// newPipeHash starts a pipeline for h, or returns nil when all pipeline slots
// are taken (the caller then hashes inline). When prev is not nil, another
// goroutine is still writing to h: hashing starts once prev is closed.
func newPipeHash(h hash.Hash, prev <-chan struct{}) *pipeHash {
	select {
	case pipeSlots <- struct{}{}:
	default:
		return nil
	}
	p := &pipeHash{h: h, ch: make(chan *[]byte, pipeDepth), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if prev != nil {
			<-prev
		}
		for b := range p.ch {
			p.h.Write(*b)
			*b = (*b)[:0]
			blockPool.Put(b)
		}
		if p.after != nil {
			p.after()
		}
		<-pipeSlots
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
		if len(*p.cur) >= pipeFill {
			p.ch <- p.cur
			p.cur = nil
		}
	}
	return n, nil
}

// submit hands the block b (from blockPool, holding the next bytes) to the
// hasher, which owns it from then on. Bytes copied in by Write go first.
func (p *pipeHash) submit(b *[]byte) {
	if p.cur != nil && len(*p.cur) > 0 {
		p.ch <- p.cur
		p.cur = nil
	}
	if len(*b) == 0 {
		blockPool.Put(b)
		return
	}
	p.ch <- b
}

// Close flushes the last block and waits until everything is hashed.
func (p *pipeHash) Close() {
	p.closeThen(nil)
	<-p.done
}

// closeThen flushes the last block and returns at once; the goroutine runs
// after (if not nil) once everything is hashed, then closes done.
func (p *pipeHash) closeThen(after func()) {
	if p.cur != nil && len(*p.cur) > 0 {
		p.ch <- p.cur
	}
	p.cur = nil
	p.after = after
	close(p.ch)
}
