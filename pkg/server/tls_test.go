package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tusimg/tusimg/internal/testserver"
	"github.com/tusimg/tusimg/pkg/config"
)

type certKey struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

// issue makes a certificate signed by parent (self-signed when parent is nil).
func issue(t *testing.T, cn string, parent *certKey, isCA, server bool) *certKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else if !isCA {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &certKey{cert: c, key: key, der: der}
}

func (c *certKey) files(t *testing.T, dir, name string) (certFile, keyFile string) {
	kb, _ := x509.MarshalECPrivateKey(c.key)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

func (c *certKey) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.der}, PrivateKey: c.key}
}

// TestTLSAndMutualTLS serves HTTPS with a generated certificate and
// requires client certificates signed by a generated CA.
func TestTLSAndMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := issue(t, "tusimg test CA", nil, true, false)
	srvCert, srvKey := issue(t, "127.0.0.1", ca, false, true).files(t, dir, "server")
	caFile, _ := ca.files(t, dir, "ca")
	client := issue(t, "uploader", ca, false, false)
	stranger := issue(t, "stranger", issue(t, "other CA", nil, true, false), false, false)

	ts := testserver.Start(t, func(c *config.Config) { c.TLSCert, c.TLSKey, c.TLSClientCA = srvCert, srvKey, caFile })
	url := strings.Replace(ts.URL, "http://", "https://", 1)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	do := func(certs []tls.Certificate, method, path string, hdr map[string]string, body []byte) (*http.Response, error) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}, ForceAttemptHTTP2: true}}
		req, _ := http.NewRequest(method, url+path, strings.NewReader(string(body)))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return c.Do(req)
	}
	if _, err := do(nil, "GET", "/healthz", nil, nil); err == nil {
		t.Error("a client without a certificate got through")
	}
	if _, err := do([]tls.Certificate{stranger.tlsCert()}, "GET", "/healthz", nil, nil); err == nil {
		t.Error("a certificate from another CA got through")
	}
	resp, err := do([]tls.Certificate{client.tlsCert()}, "GET", "/healthz", nil, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("client with a good certificate: %v %v", resp, err)
	}
	resp.Body.Close()
	// A whole tus upload over mTLS (HTTP/2): Location and Image-Url are https.
	img := readTestdata(t, "ok.png")
	resp, err = do([]tls.Certificate{client.tlsCert()}, "POST", "/files/", map[string]string{"Tus-Resumable": "1.0.0",
		"Upload-Length": itoa(len(img)), "Content-Type": "application/offset+octet-stream"}, img)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || !strings.HasPrefix(resp.Header.Get("Location"), "https://") ||
		!strings.HasPrefix(resp.Header.Get("Image-Url"), "https://") || resp.ProtoMajor != 2 {
		t.Fatalf("upload over mTLS: %d %s %v", resp.StatusCode, resp.Proto, resp.Header)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
