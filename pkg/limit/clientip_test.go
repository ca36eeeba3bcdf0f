package limit

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	const peer = "192.0.2.1:40000"
	cases := []struct {
		name    string
		remote  string
		xff     []string
		fwd     []string
		trust   bool
		trusted []string
		want    string // "" for the invalid address
	}{
		{name: "no trust ignores X-Forwarded-For", remote: peer, xff: []string{"203.0.113.7"}, want: "192.0.2.1"},
		{name: "no trust ignores Forwarded", remote: peer, fwd: []string{"for=203.0.113.7"}, want: "192.0.2.1"},
		{name: "IPv6 peer", remote: "[2001:db8::1]:1234", want: "2001:db8::1"},
		{name: "IPv4-mapped peer", remote: "[::ffff:192.0.2.9]:1234", want: "192.0.2.9"},
		{name: "peer without port", remote: "192.0.2.3", want: "192.0.2.3"},
		{name: "peer not an IP", remote: "@", want: ""},
		{name: "trust without headers", remote: peer, trust: true, want: "192.0.2.1"},
		{name: "trust single entry", remote: peer, xff: []string{"203.0.113.7"}, trust: true, want: "203.0.113.7"},
		{name: "client-sent entries on the left are ignored", remote: peer, trust: true,
			xff: []string{"1.1.1.1, 8.8.8.8,203.0.113.7"}, want: "203.0.113.7"},
		{name: "several header lines are one list", remote: peer, trust: true,
			xff: []string{"1.1.1.1", "203.0.113.7"}, want: "203.0.113.7"},
		{name: "trusted hops are skipped", remote: peer, trust: true, trusted: []string{"10.0.0.0/8"},
			xff: []string{"1.1.1.1, 203.0.113.7, 10.1.2.3, 10.0.0.9"}, want: "203.0.113.7"},
		{name: "all hops trusted: left-most", remote: peer, trust: true, trusted: []string{"10.0.0.0/8"},
			xff: []string{"10.0.0.1, 10.0.0.2"}, want: "10.0.0.1"},
		{name: "unusable right-most entry: peer", remote: peer, trust: true,
			xff: []string{"203.0.113.7, unknown"}, want: "192.0.2.1"},
		{name: "empty entries dropped", remote: peer, trust: true, xff: []string{"203.0.113.7, ,", ""}, want: "203.0.113.7"},
		{name: "only empty entries: Forwarded", remote: peer, trust: true, xff: []string{" , "},
			fwd: []string{"for=198.51.100.4"}, want: "198.51.100.4"},
		{name: "entry with port", remote: peer, trust: true, xff: []string{"203.0.113.7:5555"}, want: "203.0.113.7"},
		{name: "IPv6 entry", remote: peer, trust: true, xff: []string{"2001:db8::7"}, want: "2001:db8::7"},
		{name: "bracketed IPv6 entry with port", remote: peer, trust: true, xff: []string{"[2001:db8::7]:443"}, want: "2001:db8::7"},
		{name: "bracketed IPv6 entry", remote: peer, trust: true, xff: []string{"[2001:db8::7]"}, want: "2001:db8::7"},
		{name: "IPv4-mapped entry", remote: peer, trust: true, xff: []string{"::ffff:203.0.113.7"}, want: "203.0.113.7"},
		{name: "zone dropped", remote: peer, trust: true, xff: []string{"fe80::1%eth0"}, want: "fe80::1"},
		{name: "X-Forwarded-For wins over Forwarded", remote: peer, trust: true,
			xff: []string{"203.0.113.7"}, fwd: []string{"for=198.51.100.4"}, want: "203.0.113.7"},
		{name: "Forwarded with other pairs", remote: peer, trust: true,
			fwd: []string{"for=192.0.2.60;proto=http;by=203.0.113.43"}, want: "192.0.2.60"},
		{name: "Forwarded quoted IPv6 with port", remote: peer, trust: true,
			fwd: []string{`For="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17"},
		{name: "Forwarded right-most element", remote: peer, trust: true,
			fwd: []string{"for=1.1.1.1, for=198.51.100.17"}, want: "198.51.100.17"},
		{name: "Forwarded obfuscated: peer", remote: peer, trust: true, fwd: []string{`for="_gazonk"`}, want: "192.0.2.1"},
		{name: "Forwarded unknown: peer", remote: peer, trust: true, fwd: []string{"for=unknown"}, want: "192.0.2.1"},
		{name: "Forwarded element without for: peer", remote: peer, trust: true,
			fwd: []string{"for=198.51.100.17, proto=https"}, want: "192.0.2.1"},
		{name: "malformed client line, good proxy line", remote: peer, trust: true,
			fwd: []string{`for="unterminated`, "for=198.51.100.17"}, want: "198.51.100.17"},
		{name: "client quote swallows the proxy's element: peer", remote: peer, trust: true,
			fwd: []string{`for="x, for=198.51.100.17`}, want: "192.0.2.1"},
		{name: "Forwarded trusted hop skipped", remote: peer, trust: true, trusted: []string{"2001:db8:ffff::/48"},
			fwd: []string{`for=198.51.100.17, for="[2001:db8:ffff::1]"`}, want: "198.51.100.17"},
		{name: "trust with unusable peer and no headers", remote: "pipe", trust: true, want: ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/files/", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range c.fwd {
				r.Header.Add("Forwarded", v)
			}
			p := Proxies{Trust: c.trust}
			for _, s := range c.trusted {
				p.Trusted = append(p.Trusted, netip.MustParsePrefix(s))
			}
			got := p.ClientIP(r)
			want := netip.Addr{}
			if c.want != "" {
				want = netip.MustParseAddr(c.want)
			}
			if got != want {
				t.Fatalf("ClientIP = %v, want %v", got, want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	cases := []struct{ addr, want string }{
		{"192.0.2.1", "192.0.2.1/32"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
	}
	for _, c := range cases {
		if got := Key(netip.MustParseAddr(c.addr)); got != netip.MustParsePrefix(c.want) {
			t.Errorf("Key(%s) = %v, want %s", c.addr, got, c.want)
		}
	}
	if got := Key(netip.Addr{}); got != (netip.Prefix{}) {
		t.Errorf("Key(invalid) = %v, want the zero prefix", got)
	}
}

func TestParseForwarded(t *testing.T) {
	cases := []struct {
		line string
		want []string
		ok   bool
	}{
		{"", nil, true},
		{"for=192.0.2.43", []string{"192.0.2.43"}, true},
		{"for=192.0.2.43, for=198.51.100.17", []string{"192.0.2.43", "198.51.100.17"}, true},
		{`for="[2001:db8:cafe::17]:4711"`, []string{"[2001:db8:cafe::17]:4711"}, true},
		{"for=192.0.2.60;proto=http;by=203.0.113.43", []string{"192.0.2.60"}, true},
		{"proto=https;for=192.0.2.60", []string{"192.0.2.60"}, true},
		{"proto=https", []string{""}, true},
		{`for="a\"b\\c"`, []string{`a"b\c`}, true},
		{"for=1.1.1.1,,  ,for=2.2.2.2", []string{"1.1.1.1", "2.2.2.2"}, true},
		{"for=1.1.1.1;;", []string{"1.1.1.1"}, true},
		{" FOR = 1.1.1.1", nil, false},
		{"for", nil, false},
		{"for=", nil, false},
		{`for="open`, nil, false},
		{`for="x"y`, nil, false},
		{`for="x\`, nil, false},
		{"for=1.1.1.1;for=2.2.2.2", nil, false},
		{"=1.1.1.1", nil, false},
		{"f@r=1", nil, false},
	}
	for _, c := range cases {
		got, ok := parseForwarded(c.line)
		if ok != c.ok || (ok && !slices.Equal(got, c.want)) {
			t.Errorf("parseForwarded(%q) = %q, %v; want %q, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

// FuzzForwarded feeds arbitrary Forwarded and X-Forwarded-For values to the
// parsers. Invariants: no panic; a parsed Forwarded line re-encoded with
// quoted strings parses to the same values; ClientIP always returns a valid
// address (the peer's is valid) which is either the peer or one of the hops.
func FuzzForwarded(f *testing.F) {
	for _, s := range []string{
		"for=192.0.2.43", `for="[2001:db8:cafe::17]:4711"`, "for=192.0.2.60;proto=http;by=203.0.113.43",
		"for=1.1.1.1, for=198.51.100.17", `for="_gazonk"`, "for=unknown", `for="x, for=1.2.3.4`,
		`for="a\"b"`, ",,;;", "for=1.1.1.1;for=2.2.2.2", "203.0.113.7, 10.0.0.1", "[2001:db8::7]:443",
		"::ffff:1.2.3.4", "fe80::1%eth0", "\x00for=\xff", strings.Repeat("for=1.1.1.1,", 50),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if vals, ok := parseForwarded(line); ok {
			enc := make([]string, len(vals))
			for i, v := range vals {
				enc[i] = `for="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
			}
			again, ok := parseForwarded(strings.Join(enc, ", "))
			if !ok || !slices.Equal(again, vals) {
				t.Fatalf("re-encoded %q parses to %q, %v; want %q", enc, again, ok, vals)
			}
		}
		peer := netip.MustParseAddr("192.0.2.1")
		for hdr, hops := range map[string][]string{
			"Forwarded":       forwardedElements([]string{line}),
			"X-Forwarded-For": forwardedFor([]string{line}),
		} {
			r := httptest.NewRequest("POST", "/files/", nil)
			r.RemoteAddr = "192.0.2.1:1"
			r.Header = http.Header{hdr: {line}}
			got := Proxies{Trust: true}.ClientIP(r)
			if !got.IsValid() {
				t.Fatalf("%s %q: invalid client address", hdr, line)
			}
			fromHeader := slices.ContainsFunc(hops, func(h string) bool { return parseHop(h) == got })
			if got != peer && !fromHeader {
				t.Fatalf("%s %q: client %v is neither the peer nor one of the hops %q", hdr, line, got, hops)
			}
			if k := Key(got); !k.IsValid() || !k.Contains(got) {
				t.Fatalf("Key(%v) = %v", got, k)
			}
		}
	})
}
