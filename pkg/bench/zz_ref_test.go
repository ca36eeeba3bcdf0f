package bench

import (
	"crypto/sha256"
	"fmt"
	"os"
	"testing"
)

func TestZZRef(t *testing.T) {
	out := ""
	for _, sz := range []int64{128, 1000, 5 << 10, 200 << 10, 3 << 20, 70 << 20} {
		for _, seed := range []uint64{1, 77} {
			p, err := NewPNG(sz, seed)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			n, _ := p.WriteWithText(h, "k", fmt.Sprint("t", sz))
			h2 := sha256.New()
			n2, _ := p.WriteTo(h2)
			out += fmt.Sprintf("%d %d %d %x %d %x\n", sz, seed, n, h.Sum(nil), n2, h2.Sum(nil))
		}
	}
	os.WriteFile(os.Getenv("REFOUT"), []byte(out), 0o644)
}
