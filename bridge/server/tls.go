package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/wsbridge/wsbridge/bridge"
)

// certReloader holds the server's certificate (and the client CAs of
// --sslca) and re-reads them on SIGHUP. Handshakes pick up whatever is
// current; connections already open, and so the sessions on them, are not
// touched. A reload that fails keeps the previous files' contents.
type certReloader struct {
	certFile, keyFile, caFile string
	log                       *slog.Logger

	cert      atomic.Pointer[tls.Certificate]
	clientCfg atomic.Pointer[tls.Config] // with the CA pool, when --sslca
	base      *tls.Config
}

func newCertReloader(certFile, keyFile, caFile string, log *slog.Logger) (*certReloader, error) {
	cr := &certReloader{certFile: certFile, keyFile: keyFile, caFile: caFile, log: log}
	cr.base = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// WebSocket upgrades need HTTP/1.1 (no HTTP/2 extended CONNECT).
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return cr.cert.Load(), nil
		},
	}
	if caFile != "" {
		cr.base.ClientAuth = tls.RequireAndVerifyClientCert
		cr.base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return cr.clientCfg.Load(), nil
		}
	}
	if err := cr.reload(); err != nil {
		return nil, err
	}
	return cr, nil
}

// Config is the tls.Config of the TLS listeners.
func (cr *certReloader) Config() *tls.Config { return cr.base }

func (cr *certReloader) reload() error {
	cert, err := tls.LoadX509KeyPair(cr.certFile, cr.keyFile)
	if err != nil {
		return fmt.Errorf("--sslcert=%s --sslkey=%s: %w", cr.certFile, cr.keyFile, err)
	}
	if cr.caFile != "" {
		pem, err := os.ReadFile(cr.caFile)
		if err != nil {
			return fmt.Errorf("--sslca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--sslca=%s: no PEM certificate found", cr.caFile)
		}
		cfg := cr.base.Clone()
		cfg.GetConfigForClient = nil
		cfg.ClientCAs = pool
		cr.clientCfg.Store(cfg)
	}
	cr.cert.Store(&cert)
	return nil
}

// Reload re-reads the files; on SIGHUP the reload hub calls it. A broken
// file keeps the previous certificate serving.
func (cr *certReloader) Reload() error {
	if err := cr.reload(); err != nil {
		return fmt.Errorf("certificates not reloaded, keeping the previous ones: %w", err)
	}
	cr.log.Info("SIGHUP: certificates reloaded", "cert", cr.certFile)
	return nil
}

// clientCertEnv gives the child what it needs to know about a client
// certificate (--sslca): SSL_CLIENT_S_DN, the subject in RFC 2253 form, and
// SSL_CLIENT_VERIFY, SUCCESS or NONE (a request on the plain unix socket).
// Both are always set so that neither can come from --passenv.
func clientCertEnv(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dn, verify := "", "NONE"
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.PeerCertificates) > 0 {
			dn, verify = r.TLS.PeerCertificates[0].Subject.String(), "SUCCESS"
		}
		next.ServeHTTP(w, bridge.WithEnv(r, "SSL_CLIENT_S_DN="+dn, "SSL_CLIENT_VERIFY="+verify))
	})
}
