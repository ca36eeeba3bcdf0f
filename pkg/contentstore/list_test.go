package contentstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// publishSet publishes n images with upload times such that some tie, and
// returns their hashes newest first (time descending, then hash descending).
func publishSet(t *testing.T, s *FS, base string, n int) []string {
	t.Helper()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	type item struct {
		at  time.Time
		sha string
	}
	var items []item
	for i := range n {
		at := t0.Add(time.Duration(i/2) * time.Minute) // pairs share a time
		rec := publish(t, s, base, fmt.Appendf(nil, "image %d", i), at)
		items = append(items, item{at, rec.SHA256})
	}
	slices.SortFunc(items, func(a, b item) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return strings.Compare(b.sha, a.sha)
	})
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.sha
	}
	return out
}

func shas(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.SHA256
	}
	return out
}

// pages lists everything with the given page size through the cursor.
func pages(t *testing.T, s *FS, size int) []string {
	t.Helper()
	var all []string
	before := ""
	for range 100 {
		recs, err := s.List(context.Background(), before, size)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(recs) == 0 {
			return all
		}
		if len(recs) > size {
			t.Fatalf("List returned %d > limit %d", len(recs), size)
		}
		all = append(all, shas(recs)...)
		before = recs[len(recs)-1].SHA256
	}
	t.Fatal("pagination does not end")
	return nil
}

func TestList(t *testing.T) {
	s, base := testStore(t)
	want := publishSet(t, s, base, 7)
	ctx := context.Background()
	for _, size := range []int{1, 2, 3, 7, 50} {
		if got := pages(t, s, size); !slices.Equal(got, want) {
			t.Errorf("pages of %d = %v\nwant %v", size, got, want)
		}
	}
	tests := []struct {
		name   string
		before string
		limit  int
		want   []string
	}{
		{"first page", "", 3, want[:3]},
		{"after third", want[2], 2, want[3:5]},
		{"after last", want[6], 5, []string{}},
		{"zero limit", "", 0, []string{}},
		{"negative limit", "", -1, []string{}},
		{"unknown cursor", strings.Repeat("0", 64), 5, []string{}},
		{"malformed cursor", "nope", 5, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.List(ctx, tt.before, tt.limit)
			if err != nil || got == nil || !slices.Equal(shas(got), tt.want) {
				t.Errorf("List(%q, %d) = %v, %v; want %v", tt.before, tt.limit, shas(got), err, tt.want)
			}
		})
	}
}

func TestRestart(t *testing.T) {
	s, base := testStore(t)
	want := publishSet(t, s, base, 9)
	s2, err := NewFS(s.dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := pages(t, s2, 4); !slices.Equal(got, want) {
		t.Errorf("after restart List = %v\nwant %v", got, want)
	}
	for _, sha := range want {
		a, err1 := s.Get(context.Background(), sha)
		b, err2 := s2.Get(context.Background(), sha)
		if err1 != nil || err2 != nil || !a.UploadedAt.Equal(b.UploadedAt) || a.URL != b.URL {
			t.Errorf("Get(%s) before %+v (%v) after %+v (%v)", sha, a, err1, b, err2)
		}
	}
}

// damage describes the state TestRecover builds: one intact image plus one
// of each kind of leftover Recover must clean.
type damage struct {
	intact, noBytes, shortened, corrupt, orphan string // hashes
	strayTemp                                   string // path
}

func makeDamage(t *testing.T, s *FS, base string) damage {
	t.Helper()
	d := damage{
		intact:    publish(t, s, base, []byte("intact"), time.Time{}).SHA256,
		noBytes:   publish(t, s, base, []byte("bytes will vanish"), time.Time{}).SHA256,
		shortened: publish(t, s, base, []byte("bytes will shrink"), time.Time{}).SHA256,
		corrupt:   publish(t, s, base, []byte("record will rot"), time.Time{}).SHA256,
	}
	_, d.orphan = writeSource(t, base, []byte("orphan"))
	d.strayTemp = filepath.Join(filepath.Dir(s.pathOf(d.intact, "")), ".tmp-123")
	for _, err := range []error{
		os.Remove(s.pathOf(d.noBytes, "")),
		os.WriteFile(s.pathOf(d.shortened, ""), []byte("bytes"), 0o640),
		os.WriteFile(s.pathOf(d.corrupt, ".json"), []byte(`{"sha256": "tru`), 0o640),
		os.MkdirAll(filepath.Dir(s.pathOf(d.orphan, "")), 0o750),
		os.WriteFile(s.pathOf(d.orphan, ""), []byte("orphan"), 0o640),
		os.WriteFile(d.strayTemp, []byte("{"), 0o640),
		os.WriteFile(filepath.Join(s.tmp, ".tmp-copy-1"), []byte("partial"), 0o640),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// pathOf returns where sha's bytes (suffix "") or record (".json") live.
func (s *FS) pathOf(sha, suffix string) string {
	return filepath.Join(s.dir, sha[:2], sha[2:4], sha+suffix)
}

func TestRecover(t *testing.T) {
	s, base := testStore(t)
	ctx := context.Background()
	d := makeDamage(t, s, base)
	p := s.pathOf

	// A restart sees only the intact images.
	s2, err := NewFS(s.dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, sha := range []string{d.noBytes, d.corrupt, d.orphan} {
		if _, err := s2.Get(ctx, sha); !errors.Is(err, ErrNotFound) {
			t.Errorf("before Recover: Get(%s) = %v, want ErrNotFound", sha, err)
		}
	}

	rep, err := s2.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Report{Images: 1, OrphanBytes: 1, MissingBytes: 1, Corrupt: 2, TempFiles: 2}
	if rep != want {
		t.Errorf("Report = %+v, want %+v", rep, want)
	}
	for _, path := range []string{
		p(d.noBytes, ".json"), p(d.shortened, ""), p(d.shortened, ".json"),
		p(d.corrupt, ""), p(d.corrupt, ".json"), p(d.orphan, ""), d.strayTemp,
	} {
		mustNotExist(t, path)
	}
	if left, _ := os.ReadDir(s2.tmp); len(left) != 0 {
		t.Errorf("temp dir not emptied: %v", left)
	}
	if got, err := s2.List(ctx, "", 10); err != nil || !slices.Equal(shas(got), []string{d.intact}) {
		t.Errorf("List after Recover = %v, %v", shas(got), err)
	}
	if _, err := s2.Get(ctx, d.shortened); !errors.Is(err, ErrNotFound) {
		t.Errorf("size-mismatched image still served: %v", err)
	}
	// A second run has nothing to do.
	if rep, err := s2.Recover(ctx); err != nil || rep != (Report{Images: 1}) {
		t.Errorf("second Recover = %+v, %v", rep, err)
	}
	// The removed images can be published again.
	publish(t, s2, base, []byte("bytes will shrink"), time.Time{})
}

func TestRecoverKeepsUnrelatedFiles(t *testing.T) {
	s, _ := testStore(t)
	keep := []string{
		filepath.Join(s.dir, "README"),
		filepath.Join(s.dir, "zz", "notes.txt"),
		filepath.Join(s.dir, "ab", "cd", "unrelated.txt"),
	}
	for _, p := range keep {
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range keep {
		if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, []byte("x")) {
			t.Errorf("%s: %v", p, err)
		}
	}
}
