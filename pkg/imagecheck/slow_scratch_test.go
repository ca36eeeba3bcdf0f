package imagecheck

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestScratchSlow(t *testing.T) {
	c, _ := New(fuzzPolicy())
	dir := os.Getenv("CORPUS")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		raw, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		lines := strings.Split(string(raw), "\n")
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatal(err)
		}
		data := []byte(s)
		start := time.Now()
		res, err := c.Check(context.Background(), bytes.NewReader(data), int64(len(data)), Meta{})
		d := time.Since(start)
		if d > 2*time.Millisecond {
			t.Logf("%s %d bytes %v %+v %v", e.Name(), len(data), d, res, err)
		}
	}
}
