package tokens

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Upstream timeouts (security.md §4).
const (
	dialTimeout           = 5 * time.Second
	tlsHandshakeTimeout   = 5 * time.Second
	responseHeaderTimeout = 10 * time.Second
	attemptTimeout        = 15 * time.Second
	maxBody               = 1 << 20 // bodies are read through a 1 MiB limit
)

// HTTPOptions configure NewHTTPClient.
type HTTPOptions struct {
	// RootCAs are the trusted roots; nil means the system roots. Tests and the sandbox pass their own.
	RootCAs *x509.CertPool
}

// errRedirect marks a refused redirect; such requests are never retried.
var errRedirect = errors.New("redirect refused")

// NewHTTPClient returns the client for Maskinporten and Altinn: TLS 1.2 or newer, always verified (there is
// no switch to turn verification off), redirects refused so a grant or token never reaches another host,
// dial and TLS handshake 5 s, response header 10 s, and 15 s per attempt. Callers bound the whole call
// with their context.
//
// Proxies come from the environment (HTTPS_PROXY, NO_PROXY): servers in corporate networks often reach
// the Internet only through one. TLS is still verified end to end through a proxy.
func NewHTTPClient(o HTTPOptions) *http.Client {
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   dialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			RootCAs:    o.RootCAs,
		},
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		ResponseHeaderTimeout:  responseHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       attemptTimeout,
		CheckRedirect: refuseRedirect,
	}
}

// refuseRedirect is the CheckRedirect of NewHTTPClient: upstreams are never followed to another URL.
func refuseRedirect(req *http.Request, _ []*http.Request) error { return redirectError(req.URL) }

func redirectError(to *url.URL) error {
	host := ""
	if to != nil {
		host = to.Host
	}
	return fmt.Errorf("%w: the upstream answered with a redirect to host %q; check the configured endpoint URL",
		errRedirect, host)
}

// checkUpstreamURL accepts an absolute https URL, or http only to a literal loopback address or
// localhost (the sandbox). field names the setting in errors.
func checkUpstreamURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s %q is not a URL: %w", field, raw, err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s %q must be an absolute https URL without user, query or fragment", field, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s %q: plain http is allowed only to a loopback address (the sandbox); use https", field, raw)
	}
	return fmt.Errorf("%s %q must use https", field, raw)
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// readBody reads at most 1 MiB of r; a longer body is an error.
func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("reply body is larger than %d bytes", maxBody)
	}
	return b, nil
}
