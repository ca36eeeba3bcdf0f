package limit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies says whether, and how far, forwarding headers are believed when
// deciding which address a request comes from.
type Proxies struct {
	// Trust honours X-Forwarded-For / Forwarded: the immediate peer is taken
	// to be a reverse proxy that appends the address it received the request
	// from. Off (the default), the headers are ignored, since any client can
	// send them.
	Trust bool
	// Trusted lists further proxy hops (e.g. a CDN in front of the proxy)
	// whose own entries are skipped. Only used when Trust is set.
	Trusted []netip.Prefix
}

// ClientIP returns the address r comes from, by this rule:
//
//  1. Without Trust, the peer address (the host of r.RemoteAddr).
//  2. With Trust, the hops are the entries of every X-Forwarded-For line, in
//     order, split at commas, blanks trimmed, empty entries dropped. Only
//     when there is no X-Forwarded-For entry at all, the hops are the
//     elements of every Forwarded line (RFC 7239), each element one hop
//     with its for= value; an element without for=, or a line that does not
//     parse, is one hop without a usable address.
//  3. The client is the right-most hop whose address is not in Trusted
//     (with Trusted empty: the last hop, the one the immediate proxy
//     appended; entries to its left are whatever the client sent and are
//     never believed). If every hop is in Trusted, the left-most hop.
//  4. A hop is an IPv4 or IPv6 address, optionally with a port ("1.2.3.4:5",
//     "[2001:db8::1]:5") or in brackets; a zone is dropped; an IPv4-mapped
//     IPv6 address counts as IPv4. If the chosen hop is anything else
//     ("unknown", an obfuscated identifier, garbage), or there are no hops,
//     the peer address is used: a client cannot escape its proxy's bucket
//     by malforming the header.
//
// So the proxy must append to X-Forwarded-For (nginx's
// $proxy_add_x_forwarded_for, HAProxy's option forwardfor, Caddy, Traefik
// and AWS ALB do), or, with no X-Forwarded-For at all, to Forwarded.
//
// The result is invalid only when neither the chosen hop nor RemoteAddr is
// an IP address (e.g. a Unix socket peer).
func (p Proxies) ClientIP(r *http.Request) netip.Addr {
	peer := parseHop(r.RemoteAddr)
	if !p.Trust {
		return peer
	}
	hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
	if len(hops) == 0 {
		hops = forwardedElements(r.Header.Values("Forwarded"))
	}
	if len(hops) == 0 {
		return peer
	}
	chosen := hops[0]
	for i := len(hops) - 1; i >= 0; i-- {
		if !p.trusted(parseHop(hops[i])) {
			chosen = hops[i]
			break
		}
	}
	if a := parseHop(chosen); a.IsValid() {
		return a
	}
	return peer
}

func (p Proxies) trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, pfx := range p.Trusted {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// Key returns the bucket a client address falls into: the address itself
// for IPv4 (and IPv4-mapped IPv6), its /64 for IPv6, since one subscriber
// usually gets a whole /64. An invalid address gives the zero Prefix, one
// shared bucket.
func Key(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	switch {
	case !a.IsValid():
		return netip.Prefix{}
	case a.Is4():
		return netip.PrefixFrom(a, 32)
	default:
		p, _ := a.Prefix(64) // cannot fail for a valid IPv6 address
		return p
	}
}

// forwardedFor splits X-Forwarded-For lines into hops.
func forwardedFor(lines []string) []string {
	var hops []string
	for _, line := range lines {
		for _, h := range strings.Split(line, ",") {
			if h = strings.Trim(h, " \t"); h != "" {
				hops = append(hops, h)
			}
		}
	}
	return hops
}

// forwardedElements returns the for= value of each element of Forwarded
// lines ("" for an element without one, and one "" for a line that does not
// parse).
func forwardedElements(lines []string) []string {
	var hops []string
	for _, line := range lines {
		els, ok := parseForwarded(line)
		if !ok {
			hops = append(hops, "")
			continue
		}
		hops = append(hops, els...)
	}
	return hops
}

// parseForwarded parses one Forwarded line (RFC 7239 section 4):
//
//	Forwarded         = 1#forwarded-element
//	forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
//	forwarded-pair    = token "=" value
//	value             = token / quoted-string
//
// and returns each non-empty element's for= value, unquoted ("" when the
// element has none). ok is false when the line is malformed: a pair without
// "=", an empty or non-token name, an unterminated quoted string, text after
// a closing quote, a repeated for=.
func parseForwarded(line string) (fors []string, ok bool) {
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == ',') {
			i++
		}
		if i >= len(line) {
			return fors, true
		}
		var (
			val  string
			seen bool
		)
		for { // pairs of one element
			for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
				i++
			}
			if i < len(line) && line[i] != ',' && line[i] != ';' {
				j := i
				for j < len(line) && isTokenChar(line[j]) {
					j++
				}
				if j == i || j >= len(line) || line[j] != '=' {
					return nil, false
				}
				name := line[i:j]
				v, next, good := parseValue(line, j+1)
				if !good {
					return nil, false
				}
				if strings.EqualFold(name, "for") {
					if seen {
						return nil, false
					}
					val, seen = v, true
				}
				i = next
				for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
					i++
				}
			}
			if i < len(line) && line[i] == ';' {
				i++
				continue
			}
			if i < len(line) && line[i] != ',' {
				return nil, false
			}
			break
		}
		fors = append(fors, val)
	}
}

// parseValue parses a token or quoted-string starting at line[i].
func parseValue(line string, i int) (val string, next int, ok bool) {
	if i < len(line) && line[i] == '"' {
		var b strings.Builder
		for i++; i < len(line); i++ {
			switch c := line[i]; c {
			case '"':
				return b.String(), i + 1, true
			case '\\':
				if i+1 >= len(line) {
					return "", 0, false
				}
				i++
				b.WriteByte(line[i])
			default:
				b.WriteByte(c)
			}
		}
		return "", 0, false
	}
	j := i
	for j < len(line) && isTokenChar(line[j]) {
		j++
	}
	if j == i {
		return "", 0, false
	}
	return line[i:j], j, true
}

// isTokenChar reports whether c is an RFC 7230 tchar.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// parseHop parses an address with optional port or brackets; invalid when it
// is not one.
func parseHop(s string) netip.Addr {
	s = strings.Trim(s, " \t")
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return a.Unmap().WithZone("")
		}
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return a.Unmap().WithZone("")
		}
	}
	return netip.Addr{}
}
