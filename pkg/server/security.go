package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/tusimg/tusimg/pkg/auth"
	"github.com/tusimg/tusimg/pkg/reqctx"
)

// newVerifier builds the upload authenticator from the config; it is
// disabled (zero) when no credential is configured.
func (s *Server) newVerifier() (*auth.Verifier, error) {
	v := &auth.Verifier{Secret: []byte(s.cfg.AuthSecret), StaticToken: s.cfg.AuthToken}
	if s.cfg.AuthSecretFile != "" {
		b, err := os.ReadFile(s.cfg.AuthSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--auth-secret-file: %v", unwrapPath(err))
		}
		v.Secret = []byte(strings.TrimSpace(string(b)))
		if len(v.Secret) < 32 {
			return nil, fmt.Errorf("--auth-secret-file %s: the key must be at least 32 bytes", s.cfg.AuthSecretFile)
		}
	}
	return v, nil
}

// requireAuth answers 401 unless the request carries a valid token (when
// auth is on), and records the subject for the handler.
func (s *Server) requireAuth(h http.Handler) http.Handler {
	if !s.auth.Enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := s.auth.Authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tusimg"`)
			fail(w, r, err)
			return
		}
		info := reqctx.From(r.Context())
		info.Subject, info.MaxSize = claims.Subject, claims.MaxSize
		h.ServeHTTP(w, r.WithContext(reqctx.With(r.Context(), info)))
	})
}

// readAuth guards read routes only when --auth-read is set.
func (s *Server) readAuth(h http.Handler) http.Handler {
	if !s.cfg.AuthRead {
		return h
	}
	return s.requireAuth(h)
}

// ownUpload refuses the status of another subject's upload.
func (s *Server) ownUpload(r *http.Request, id string) error {
	subject := reqctx.From(r.Context()).Subject
	if subject == "" {
		return nil
	}
	if owner := s.uploads.Owner(r.Context(), id); owner != "" && owner != subject {
		return auth.ErrForbidden
	}
	return nil
}

// tlsConfig loads the certificate and, for mTLS, the client CA. It returns
// nil when TLS is off.
func (s *Server) tlsConfig() (*tls.Config, error) {
	if s.cfg.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %v", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if s.cfg.TLSClientCA != "" {
		pem, err := os.ReadFile(s.cfg.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %v", unwrapPath(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("--tls-client-ca: no PEM certificate found in " + s.cfg.TLSClientCA)
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}
