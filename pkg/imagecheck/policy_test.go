package imagecheck

import (
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := Policy{MaxSize: 50 << 20, MinSize: 1, MaxWidth: 16384, MaxHeight: 16384,
		MaxPixels: 50_000_000, MaxFrames: 1000, MaxTotalPixels: 200_000_000,
		FullDecode: true, FullDecodeMaxPixels: 50_000_000, MaxConcurrentDecodes: runtime.NumCPU()}
	got := p
	got.AllowedTypes = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultPolicy = %+v, want %+v", got, want)
	}
	if !slices.Equal(p.AllowedTypes, []string{"image/jpeg", "image/png", "image/gif", "image/webp"}) {
		t.Errorf("AllowedTypes = %v", p.AllowedTypes)
	}
	p.AllowedTypes[0] = "changed"
	if DefaultPolicy().AllowedTypes[0] != TypeJPEG {
		t.Error("DefaultPolicy shares its AllowedTypes slice")
	}
}

func TestPolicyValidate(t *testing.T) {
	with := func(f func(*Policy)) Policy {
		p := DefaultPolicy()
		f(&p)
		return p
	}
	tests := []struct {
		name   string
		policy Policy
		want   []string // substrings, each must appear; nil: valid
	}{
		{name: "default", policy: DefaultPolicy()},
		{name: "upper-case types", policy: with(func(p *Policy) { p.AllowedTypes = []string{"IMAGE/PNG", " image/gif "} })},
		{name: "minimal", policy: with(func(p *Policy) {
			p.MaxSize, p.MinSize, p.MaxWidth, p.MaxHeight, p.MaxPixels, p.MaxFrames, p.MaxTotalPixels, p.MaxConcurrentDecodes = 1, 1, 1, 1, 1, 1, 1, 1
		})},
		{name: "zero value", policy: Policy{}, want: []string{"MaxSize:", "MinSize:", "AllowedTypes:", "MaxWidth:",
			"MaxHeight:", "MaxPixels:", "MaxFrames:", "MaxTotalPixels:", "MaxConcurrentDecodes:"}},
		{name: "svg", policy: with(func(p *Policy) { p.AllowedTypes = []string{TypePNG, "image/svg+xml"} }),
			want: []string{`AllowedTypes: "image/svg+xml" is not supported`}},
		{name: "several unknown types", policy: with(func(p *Policy) { p.AllowedTypes = []string{"text/html", "image/tiff", "image/bmp"} }),
			want: []string{`"text/html"`, `"image/tiff"`, `"image/bmp"`}},
		{name: "MinSize above MaxSize", policy: with(func(p *Policy) { p.MinSize, p.MaxSize = 10, 5 }),
			want: []string{"MinSize: 10 must not exceed MaxSize 5"}},
		{name: "MaxTotalPixels below MaxPixels", policy: with(func(p *Policy) { p.MaxTotalPixels = p.MaxPixels - 1 }),
			want: []string{"MaxTotalPixels: 49999999 must be at least MaxPixels 50000000"}},
		{name: "negative", policy: with(func(p *Policy) { p.MaxWidth, p.MaxFrames = -1, -5 }),
			want: []string{"MaxWidth: must be at least 1, got -1", "MaxFrames: must be at least 1, got -5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil, want errors")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != len(tt.want) {
				t.Errorf("%d problems reported, want %d: %v", n, len(tt.want), err)
			}
			if _, err := New(tt.policy); err == nil {
				t.Error("New accepted an invalid policy")
			}
		})
	}
}

func TestNewPolicy(t *testing.T) {
	p := DefaultPolicy()
	p.AllowedTypes = []string{"IMAGE/WEBP", TypePNG, TypePNG}
	c := newChecker(t, p)
	got := c.Policy()
	if !slices.Equal(got.AllowedTypes, []string{TypePNG, TypeWebP}) {
		t.Errorf("Policy().AllowedTypes = %v, want canonical order and case", got.AllowedTypes)
	}
	got.AllowedTypes[0] = TypeGIF
	if c.Policy().AllowedTypes[0] != TypePNG {
		t.Error("Policy() shares its AllowedTypes slice")
	}
	p.AllowedTypes[1] = TypeGIF
	if _, err := c.Sniff([]byte("GIF89a")); err == nil {
		t.Error("Checker shares the caller's AllowedTypes slice")
	}
	if cap(c.sem) != p.MaxConcurrentDecodes {
		t.Errorf("semaphore size %d, want %d", cap(c.sem), p.MaxConcurrentDecodes)
	}
}
