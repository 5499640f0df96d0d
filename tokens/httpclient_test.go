package tokens

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRedirectIsRefused(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	f := newFakeMP(t, time.Now)
	for _, code := range []int{301, 302, 307, 308} {
		f.push(status(code, "", "Location", other.URL+"/token"))
		_, err := testClient(t, f).Token(context.Background(), sysReq)
		if !errors.Is(err, errRedirect) || AsError(err) == nil || AsError(err).Temporary {
			t.Errorf("%d: error = %v, want a permanent refused redirect", code, err)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
	if n := f.requests(); n != 4 {
		t.Errorf("token endpoint saw %d requests, want 4 (one per case, no retries)", n)
	}
}

func TestUntrustedCertificateFailsClosed(t *testing.T) {
	var conns, tokens atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tokens.Add(1)
		fmt.Fprint(w, `{"access_token":"t","token_type":"Bearer","expires_in":120}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	newClient := func(roots *x509.CertPool) *Client {
		c, err := NewClient(ClientOptions{Issuer: srv.URL + "/", TokenURL: srv.URL + "/token", ClientID: "c", KeyID: "k",
			Signer: testKey(), HTTPClient: NewHTTPClient(HTTPOptions{RootCAs: roots}),
			Retry: RetryPolicy{WaitMin: time.Millisecond, WaitMax: time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	_, err := newClient(nil).Token(context.Background(), sysReq)
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	if !errors.As(err, &unknown) && !errors.As(err, &verify) {
		t.Fatalf("error = %v, want a certificate error", err)
	}
	if e := AsError(err); e == nil || e.Temporary {
		t.Errorf("certificate error should be a permanent *Error: %v", err)
	}
	if conns.Load() != 1 || tokens.Load() != 0 {
		t.Errorf("%d connections, %d token requests; want 1 and 0 (no retry, no request)", conns.Load(), tokens.Load())
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	if _, err := newClient(roots).Token(context.Background(), sysReq); err != nil {
		t.Fatalf("with the server's root trusted: %v", err)
	}
}

func TestHTTPClientSettings(t *testing.T) {
	c := NewHTTPClient(HTTPOptions{})
	tr := c.Transport.(*http.Transport)
	switch {
	case tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion < tls.VersionTLS12:
		t.Error("TLS below 1.2 allowed")
	case reflect.ValueOf(tr.TLSClientConfig).Elem().FieldByName("Insecure" + "SkipVerify").Bool():
		t.Error("TLS verification is off")
	case c.CheckRedirect == nil:
		t.Error("redirects are followed")
	case c.Timeout != 15*time.Second || tr.ResponseHeaderTimeout != 10*time.Second || tr.TLSHandshakeTimeout != 5*time.Second:
		t.Errorf("timeouts: attempt %s, header %s, handshake %s", c.Timeout, tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout)
	case tr.Proxy == nil:
		t.Error("proxy from environment is not used")
	}
}

// TestNoVerifySwitchInSource fails if any non-test source file of the package names the TLS verify-off switch.
func TestNoVerifySwitchInSource(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources: %v", err)
	}
	word := "Insecure" + "SkipVerify"
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		if strings.Contains(string(b), word) {
			t.Errorf("%s mentions %s", f, word)
		}
	}
	if checked < 5 {
		t.Errorf("only %d source files checked", checked)
	}
}
