package limit

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func mustRate(t testing.TB, rate float64, burst int, trust bool, o RateOptions) *RateLimiter {
	t.Helper()
	l, err := NewRateLimiter(rate, burst, trust, o)
	if err != nil {
		t.Fatalf("NewRateLimiter: %v", err)
	}
	return l
}

func TestNewRateLimiterRejectsBadValues(t *testing.T) {
	for _, c := range []struct {
		rate  float64
		burst int
	}{{-1, 3}, {math.NaN(), 3}, {math.Inf(1), 3}, {1, 0}, {1, -5}} {
		if _, err := NewRateLimiter(c.rate, c.burst, false, RateOptions{}); err == nil {
			t.Errorf("NewRateLimiter(%g, %d) accepted", c.rate, c.burst)
		}
	}
	if _, err := NewRateLimiter(0, 0, false, RateOptions{}); err != nil {
		t.Errorf("rate 0 (off) with burst 0: %v", err)
	}
}

func TestRateLimiterBucket(t *testing.T) {
	a, b := netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("192.0.2.2/32")
	steps := []struct {
		advance time.Duration
		key     netip.Prefix
		ok      bool
		wait    time.Duration
	}{
		{0, a, true, 0}, {0, a, true, 0}, {0, a, true, 0}, // the burst
		{0, a, false, time.Second},
		{0, b, true, 0}, // another client has its own bucket
		{500 * time.Millisecond, a, false, 500 * time.Millisecond},
		{500 * time.Millisecond, a, true, 0}, // one token back
		{0, a, false, time.Second},
		{250 * time.Millisecond, a, false, 750 * time.Millisecond}, // a refused request costs nothing
		{time.Hour, a, true, 0}, {0, a, true, 0}, {0, a, true, 0},  // refilled to burst, not beyond
		{0, a, false, time.Second},
	}
	clock := newClock()
	l := mustRate(t, 1, 3, false, RateOptions{Now: clock.Now})
	for i, s := range steps {
		clock.Advance(s.advance)
		ok, wait := l.Allow(s.key)
		if ok != s.ok || (wait-s.wait).Abs() > time.Millisecond {
			t.Fatalf("step %d (+%s, %v): Allow = %v, %s; want %v, %s", i, s.advance, s.key, ok, wait, s.ok, s.wait)
		}
	}
}

func TestRateLimiterDisabled(t *testing.T) {
	l := mustRate(t, 0, 0, false, RateOptions{})
	if l.Enabled() {
		t.Fatal("rate 0 is enabled")
	}
	calls := 0
	h := l.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls++ }))
	for range 1000 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/files/", nil))
	}
	if calls != 1000 || l.Clients() != 0 {
		t.Fatalf("disabled limiter: %d calls passed, %d clients tracked", calls, l.Clients())
	}
}

// TestRateLimiterForgetsIdleClients checks memory is bounded by activity:
// a bucket is dropped once it would be full again.
func TestRateLimiterForgetsIdleClients(t *testing.T) {
	clock := newClock()
	l := mustRate(t, 2, 4, false, RateOptions{Now: clock.Now}) // full again after 2 s
	for i := range 1000 {
		l.Allow(Key(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})))
	}
	if n := l.Clients(); n != 1000 {
		t.Fatalf("%d clients tracked, want 1000", n)
	}
	clock.Advance(1900 * time.Millisecond)
	l.Allow(netip.MustParsePrefix("192.0.2.1/32"))
	if n := l.Clients(); n != 1001 {
		t.Fatalf("after 1.9 s: %d clients tracked, want 1001 (none full yet)", n)
	}
	clock.Advance(100 * time.Millisecond)
	l.Allow(netip.MustParsePrefix("192.0.2.2/32"))
	if n := l.Clients(); n != 2 {
		t.Fatalf("after 2 s: %d clients tracked, want 2 (the 1000 idle ones dropped)", n)
	}
}

// TestRateLimiterMaxClients checks the hard cap drops the least recently
// seen client first.
func TestRateLimiterMaxClients(t *testing.T) {
	clock := newClock()
	l := mustRate(t, 0.001, 1, false, RateOptions{Now: clock.Now, MaxClients: 3})
	key := func(i byte) netip.Prefix { return Key(netip.AddrFrom4([4]byte{192, 0, 2, i})) }
	for i := byte(1); i <= 3; i++ {
		if ok, _ := l.Allow(key(i)); !ok {
			t.Fatalf("client %d refused at first", i)
		}
		clock.Advance(time.Second)
	}
	l.Allow(key(1)) // refused, but seen: 2 is now the least recently seen
	l.Allow(key(4))
	if n := l.Clients(); n != 3 {
		t.Fatalf("%d clients tracked, want the cap of 3", n)
	}
	if ok, _ := l.Allow(key(2)); !ok {
		t.Fatal("client 2 should have been forgotten (fresh bucket)")
	}
	if ok, _ := l.Allow(key(1)); ok {
		t.Fatal("client 1 (recently seen, no token) was dropped instead of the least recently seen")
	}
}

func TestRateLimiterBytesPerClient(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100k buckets")
	}
	clock := newClock()
	l := mustRate(t, 1, 20, false, RateOptions{Now: clock.Now})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range DefaultMaxClients {
		l.Allow(Key(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 16), byte(i >> 8), byte(i)})))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / DefaultMaxClients
	t.Logf("%d clients tracked: %.0f bytes each, %.1f MiB in all", l.Clients(), per, per*DefaultMaxClients/(1<<20))
	if l.Clients() != DefaultMaxClients || per > 400 {
		t.Fatalf("%d clients, %.0f bytes each", l.Clients(), per)
	}
	runtime.KeepAlive(l)
}

func TestRateLimiterWrap(t *testing.T) {
	clock := newClock()
	var rejected []string
	l := mustRate(t, 0.4, 2, false, RateOptions{Now: clock.Now, Rejection: Rejection{
		OnReject:    func(code string) { rejected = append(rejected, code) },
		CORSOrigins: regexp.MustCompile(`^https://app\.example$`), CORSExpose: "Location, Upload-Offset",
		RequestID: func(*http.Request) string { return "req-1" },
	}})
	passed := 0
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { passed++; w.WriteHeader(201) }))
	do := func(method, remote string, hdr map[string]string, body *countingBody) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/files/", nil)
		if body != nil {
			r.Body, r.ContentLength = body, 1<<20
		}
		r.RemoteAddr = remote
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for range 2 {
		if w := do("POST", "192.0.2.1:1000", nil, nil); w.Code != 201 {
			t.Fatalf("within burst: %d", w.Code)
		}
	}
	body := &countingBody{}
	w := do("POST", "192.0.2.1:2000", map[string]string{"Origin": "https://app.example"}, body)
	if w.Code != 429 || w.Header().Get("Retry-After") != "3" || w.Header().Get("Connection") != "close" {
		t.Fatalf("over the burst: %d, Retry-After %q, Connection %q", w.Code, w.Header().Get("Retry-After"), w.Header().Get("Connection"))
	}
	if body.reads != 0 {
		t.Fatalf("the rejected request's body was read %d times", body.reads)
	}
	var e struct {
		Error struct {
			Detail struct {
				RetryAfter int `json:"retry_after"`
			} `json:"detail"`
		} `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Detail.RetryAfter != 3 {
		t.Fatalf("429 body %q: %v", w.Body, err)
	}
	if !strings.Contains(w.Body.String(), `"code":"rate_limited"`) || !strings.Contains(w.Body.String(), `"request_id":"req-1"`) {
		t.Fatalf("429 body %s", w.Body)
	}
	if w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" ||
		w.Header().Get("Access-Control-Expose-Headers") != "Location, Upload-Offset, Retry-After, X-Request-ID" {
		t.Fatalf("CORS headers on 429: %v", w.Header())
	}
	if w := do("POST", "192.0.2.1:3000", map[string]string{"Origin": "https://evil.example"}, nil); w.Code != 429 ||
		w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Connection") != "" {
		t.Fatalf("bodiless 429 for a foreign origin: %d %v", w.Code, w.Header())
	}
	// Not creations: never limited.
	for _, c := range []struct {
		method string
		hdr    map[string]string
	}{{"PATCH", nil}, {"HEAD", nil}, {"OPTIONS", nil}, {"POST", map[string]string{"X-HTTP-Method-Override": "PATCH"}}} {
		if w := do(c.method, "192.0.2.1:4000", c.hdr, nil); w.Code != 201 {
			t.Fatalf("%s %v limited: %d", c.method, c.hdr, w.Code)
		}
	}
	clock.Advance(3 * time.Second)
	if w := do("POST", "192.0.2.1:5000", nil, nil); w.Code != 201 {
		t.Fatalf("after Retry-After: %d", w.Code)
	}
	if fmt.Sprint(rejected) != "[rate_limited rate_limited]" || passed != 7 {
		t.Fatalf("OnReject saw %v, handler ran %d times", rejected, passed)
	}
}

// TestRateLimiterClients checks who shares a bucket: one IPv4 address, one
// IPv6 /64; forwarded addresses only with trust.
func TestRateLimiterClients(t *testing.T) {
	cases := []struct {
		name           string
		trust          bool
		first, second  [2]string // RemoteAddr, X-Forwarded-For
		shareTheBucket bool
	}{
		{"same IPv4, other port", false, [2]string{"192.0.2.1:1", ""}, [2]string{"192.0.2.1:2", ""}, true},
		{"other IPv4", false, [2]string{"192.0.2.1:1", ""}, [2]string{"192.0.2.2:1", ""}, false},
		{"same IPv6 /64", false, [2]string{"[2001:db8:0:1::1]:1", ""}, [2]string{"[2001:db8:0:1:ffff::2]:1", ""}, true},
		{"other IPv6 /64", false, [2]string{"[2001:db8:0:1::1]:1", ""}, [2]string{"[2001:db8:0:2::1]:1", ""}, false},
		{"X-Forwarded-For ignored without trust", false,
			[2]string{"127.0.0.1:1", "203.0.113.1"}, [2]string{"127.0.0.1:2", "203.0.113.2"}, true},
		{"per forwarded IP with trust", true,
			[2]string{"127.0.0.1:1", "203.0.113.1"}, [2]string{"127.0.0.1:2", "203.0.113.2"}, false},
		{"spoofed left entries do not split a client", true,
			[2]string{"127.0.0.1:1", "1.1.1.1, 203.0.113.1"}, [2]string{"127.0.0.1:2", "2.2.2.2, 203.0.113.1"}, true},
		{"forwarded IPv6 /64", true,
			[2]string{"127.0.0.1:1", "2001:db8::1"}, [2]string{"127.0.0.1:2", "2001:db8::2"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := mustRate(t, 1, 1, c.trust, RateOptions{Now: newClock().Now})
			h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) }))
			codes := []int{}
			for _, c := range [][2]string{c.first, c.second} {
				r := httptest.NewRequest("POST", "/files/", nil)
				r.RemoteAddr = c[0]
				if c[1] != "" {
					r.Header.Set("X-Forwarded-For", c[1])
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				codes = append(codes, w.Code)
			}
			want := []int{201, 201}
			if c.shareTheBucket {
				want[1] = 429
			}
			if fmt.Sprint(codes) != fmt.Sprint(want) {
				t.Fatalf("codes %v, want %v", codes, want)
			}
		})
	}
}

func TestRetrySeconds(t *testing.T) {
	for _, c := range []struct {
		wait time.Duration
		want int
	}{{0, 1}, {time.Nanosecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {maxWait, 86400}} {
		if got := retrySeconds(c.wait); got != c.want {
			t.Errorf("retrySeconds(%s) = %d, want %d", c.wait, got, c.want)
		}
	}
	l := mustRate(t, 1e-300, 1, false, RateOptions{})
	l.Allow(netip.Prefix{})
	if _, wait := l.Allow(netip.Prefix{}); wait != maxWait {
		t.Errorf("tiny rate: wait %s, want the cap %s", wait, maxWait)
	}
}

// countingBody counts reads; a limiter must never read a body it refuses.
type countingBody struct{ reads int }

func (b *countingBody) Read(p []byte) (int, error) { b.reads++; return len(p), nil }
func (b *countingBody) Close() error               { return nil }
