package main

// The HTTPS certificate. vcsim's built-in one (RSA 1024, CA:TRUE, for example.com) is
// refused by OpenSSL 3 ("EE certificate key too weak") and by rustls ("CaUsedAsEndEntity")
// even when given as the CA file, so the launcher makes its own: a self-signed 2048-bit
// RSA end-entity certificate for localhost and 127.0.0.1, usable as its own trust root.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io/ioutil"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// writeServerCertificate writes DIR/server.pem and DIR/server.key and returns the
// certificate and the absolute path of server.pem.
func writeServerCertificate(dir string) (tls.Certificate, string, error) {
	certPEM, keyPEM, err := newServerCertificate()
	if err != nil {
		return tls.Certificate{}, "", err
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return tls.Certificate{}, "", err
	}
	certFile, err := filepath.Abs(filepath.Join(dir, "server.pem"))
	if err != nil {
		return tls.Certificate{}, "", err
	}
	if err := ioutil.WriteFile(certFile, certPEM, 0o644); err != nil {
		return tls.Certificate{}, "", err
	}
	if err := ioutil.WriteFile(filepath.Join(dir, "server.key"), keyPEM, 0o600); err != nil {
		return tls.Certificate{}, "", err
	}

	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	return cert, certFile, err
}

// newServerCertificate returns the PEM of a fresh certificate and of its key.
func newServerCertificate() (certPEM, keyPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}

	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"cds-vsphere-exporter tests"}},
		NotBefore:    now.Add(-time.Hour), // tolerate a little clock skew
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// Go always marks basicConstraints critical; IsCA false gives CA:FALSE, which
		// rustls requires of the end-entity certificate.
		BasicConstraintsValid: true,
		IsCA:                  false,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}

	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}

	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}
