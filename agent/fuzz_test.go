package agent

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// validPair reports whether (id, secret) is a configured caller's.
func validPair(id, secret string) bool {
	return (id == idA && secret == secretA) || (id == idB && secret == secretB)
}

// presentsValidCredentials is the fuzz oracle, written apart from the agent's parser: does the request
// carry a configured id and secret, in Basic (raw or form-encoded) or in the body?
func presentsValidCredentials(authz, body string) bool {
	q, _ := url.ParseQuery(body)
	if validPair(q.Get("client_id"), q.Get("client_secret")) {
		return true
	}
	if len(authz) < 6 || !strings.EqualFold(authz[:6], "Basic ") {
		return false
	}
	enc := authz[6:]
	dec, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return false
	}
	u, p, ok := strings.Cut(string(dec), ":")
	if !ok {
		return false
	}
	if uu, err := url.QueryUnescape(u); err == nil && validPair(uu, p) {
		return true
	}
	uu, err1 := url.QueryUnescape(u)
	pp, err2 := url.QueryUnescape(p)
	return validPair(u, p) || (err1 == nil && err2 == nil && validPair(uu, pp))
}

// FuzzTokenForm drives /oauth2/token form and Basic parsing: no panic, the D16 headers on every answer,
// never 200 without valid credentials, and no access token in any non-200 answer.
func FuzzTokenForm(f *testing.F) {
	form := "application/x-www-form-urlencoded"
	f.Add(basicHeader(idA, secretA), form, "grant_type=client_credentials")
	f.Add("", form, "grant_type=client_credentials&client_id=sap&client_secret="+url.QueryEscape(secretA))
	f.Add(basicHeader(idB, secretB), form, "grant_type=client_credentials&scope=test%3Ab1&system_user=default")
	f.Add(basicHeader(idA, secretB), form, "grant_type=client_credentials")
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte(idA+":"+secretA)), form+"; charset=utf-8",
		"grant_type=client_credentials&scope=")
	p := newInProcess(f, newLoggerTo(suiteLog))
	f.Fuzz(func(t *testing.T, authz, ctype, body string) {
		w := p.serve("127.0.0.1:7070", authz, ctype, body)
		if w.Code == http.StatusOK && !presentsValidCredentials(authz, body) {
			t.Fatalf("200 without valid credentials")
		}
		if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("status %d without the D16 headers", w.Code)
		}
		if w.Code != http.StatusOK && strings.Contains(w.Body.String(), "access_token") {
			t.Fatalf("status %d carries an access token", w.Code)
		}
	})
}
