package sandbox

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Digdir's self-service API for a client's keys (maskinporten.md §6.2), under {base}/selfservice/api/v1:
//
//	GET    /clients/{id}/jwks   idporten:dcr.read   {"keys":[{kty,kid,use,alg,n,e,exp}],"created","last_updated"}
//	POST   /clients/{id}/jwks   idporten:dcr.write  {"keys":[…]} ≤ 5, replaces the whole set; 201
//	DELETE /clients/{id}/jwks   idporten:dcr.write  drops the set
//
// The bearer is a Maskinporten token of an admin client of the same organisation as the client. Digdir's
// rule: the admin client authenticates with the enterprise certificate (client_amr virksomhetssertifikat,
// an x5c grant; «Selvbetjeningsklienten må bruke virksomhetssertifikat», §6.2). The sandbox follows it:
// a token got with a registered key (client_amr private_key_jwt) is refused with 403 access_denied.
// Key-authenticated admin clients have worked in practice (§6.2); RequireCertificateForSelfService(false)
// accepts them too.
//
// [U] points and the reading the sandbox implements: where the certificate rule is enforced is not
// documented: the sandbox's Maskinporten issues the token and its self-service API refuses it (403
// access_denied, the description naming the certificate); an uploaded exp beyond one year is capped at
// one year; a key re-posted without exp is renewed to one year from now, with exp it keeps that date; an
// empty keys list is refused (use DELETE).

// Self-service scopes.
const (
	ScopeDCRRead  = "idporten:dcr.read"
	ScopeDCRWrite = "idporten:dcr.write"
)

// selfServicePath is the base of the self-service API on the sandbox.
const selfServicePath = "/selfservice/api/v1"

// SelfServiceURL is the self-service API base URL (like https://api.test.samarbeid.digdir.no/api/v1).
func (s *Sandbox) SelfServiceURL() string { return s.URL() + selfServicePath }

// RequireCertificateForSelfService(true), the default, makes the self-service API accept only admin
// tokens got with an enterprise certificate (x5c), Digdir's documented rule; false accepts
// key-authenticated admin clients too, which have worked in practice (maskinporten.md §6.2).
func (s *Sandbox) RequireCertificateForSelfService(on bool) {
	s.mp.mu.Lock()
	s.mp.certOnlyAdmin = on
	s.mp.mu.Unlock()
}

// jwkOut is one key of the self-service API.
type jwkOut struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Exp int64  `json:"exp,omitempty"`
}

type jwksReply struct {
	Keys        []jwkOut `json:"keys"`
	Created     string   `json:"created,omitempty"`
	LastUpdated string   `json:"last_updated,omitempty"`
}

func (m *maskinporten) selfServiceRoutes(mux *http.ServeMux) {
	p := selfServicePath + "/clients/{clientId}/jwks"
	mux.HandleFunc("GET "+p, m.selfService(ScopeDCRRead, m.getJWKS))
	mux.HandleFunc("POST "+p, m.selfService(ScopeDCRWrite, m.postJWKS))
	mux.HandleFunc("DELETE "+p, m.selfService(ScopeDCRWrite, m.deleteJWKS))
}

// selfService authenticates the admin token: a valid sandbox Maskinporten token (401), the scope (403),
// a certificate if required (403), a client of the token's organisation (404).
func (m *maskinporten) selfService(scope string, fn func(http.ResponseWriter, *http.Request, *client)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, ok := altinnBearer(r)
		if !ok {
			ssError(w, http.StatusUnauthorized, "invalid_token", "a bearer token of the admin client is required")
			return
		}
		claims, err := m.verifyToken(raw)
		if err != nil {
			ssError(w, http.StatusUnauthorized, "invalid_token", "the bearer token is not a valid Maskinporten token")
			return
		}
		if !slices.Contains(strings.Fields(altinnClaim(claims, "scope")), scope) {
			ssError(w, http.StatusForbidden, "insufficient_scope", "the admin token needs scope "+scope)
			return
		}
		org, _ := altinnConsumerOrg(claims)
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.certOnlyAdmin && altinnClaim(claims, "client_amr") != "virksomhetssertifikat" {
			ssError(w, http.StatusForbidden, "access_denied", "the self-service client must authenticate with the enterprise certificate "+
				"(virksomhetssertifikat): this token was got with a registered key (client_amr "+altinnClaim(claims, "client_amr")+"), not an x5c grant")
			return
		}
		c := m.clients[r.PathValue("clientId")]
		if c == nil || c.org != org {
			ssError(w, http.StatusNotFound, "not_found", "no client with this id in the organisation of the admin token")
			return
		}
		fn(w, r, c)
	}
}

// getJWKS is GET /clients/{id}/jwks. m.mu held.
func (m *maskinporten) getJWKS(w http.ResponseWriter, _ *http.Request, c *client) {
	writeJSON(w, http.StatusOK, m.jwksOf(c))
}

func (m *maskinporten) jwksOf(c *client) jwksReply {
	out := jwksReply{Keys: []jwkOut{}}
	for _, k := range c.keys {
		pub := k.Public.(*rsa.PublicKey)
		out.Keys = append(out.Keys, jwkOut{Kty: "RSA", Kid: k.KID, Use: "sig", Alg: "RS256",
			N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()), Exp: k.Expires.Unix()})
	}
	if !c.jwksCreated.IsZero() {
		out.Created, out.LastUpdated = c.jwksCreated.UTC().Format(time.RFC3339), c.jwksUpdated.UTC().Format(time.RFC3339)
	}
	return out
}

// postJWKS is POST /clients/{id}/jwks: the new set replaces the old. m.mu held.
func (m *maskinporten) postJWKS(w http.ResponseWriter, r *http.Request, c *client) {
	var body struct {
		Keys []jwkOut `json:"keys"`
	}
	d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	d.DisallowUnknownFields()
	if err := d.Decode(&body); err != nil {
		ssError(w, http.StatusBadRequest, "invalid_request", "the body must be {\"keys\":[JWK…]}: "+err.Error())
		return
	}
	switch {
	case len(body.Keys) == 0:
		ssError(w, http.StatusBadRequest, "invalid_request", "keys is empty; to remove every key use DELETE")
		return
	case len(body.Keys) > maxClientKeys:
		ssError(w, http.StatusBadRequest, "invalid_request", "at most 5 keys per client")
		return
	}
	now := m.s.now()
	var keys []ClientKey
	for i, j := range body.Keys {
		if slices.ContainsFunc(keys, func(k ClientKey) bool { return k.KID == j.Kid }) {
			ssError(w, http.StatusConflict, "invalid_request", "kid "+j.Kid+" appears twice")
			return
		}
		if j.Kty != "RSA" || j.Use != "sig" || j.Alg != "RS256" {
			ssError(w, http.StatusBadRequest, "invalid_request", "key "+j.Kid+": kty must be RSA, use sig, alg RS256")
			return
		}
		pub, ok := rsaFromJWK(j.N, j.E)
		if !ok {
			ssError(w, http.StatusBadRequest, "invalid_request", "key "+j.Kid+": n and e must be base64url RSA parameters")
			return
		}
		k := ClientKey{KID: j.Kid, Public: pub}
		if j.Exp > 0 {
			k.Expires = time.Unix(j.Exp, 0)
			if k.Expires.After(now.Add(keyLifetime)) {
				k.Expires = now.Add(keyLifetime) // [U] the sandbox caps at one year
			}
		}
		ck, err := checkClientKey(k, now)
		if err != nil {
			ssError(w, http.StatusBadRequest, "invalid_request", "keys["+itoa(i)+"]: "+err.Error())
			return
		}
		keys = append(keys, ck)
	}
	c.keys = keys
	if c.jwksCreated.IsZero() {
		c.jwksCreated = now
	}
	c.jwksUpdated = now
	writeJSON(w, http.StatusCreated, m.jwksOf(c))
}

// deleteJWKS is DELETE /clients/{id}/jwks: the whole set goes. m.mu held.
func (m *maskinporten) deleteJWKS(w http.ResponseWriter, _ *http.Request, c *client) {
	c.keys = nil
	c.jwksUpdated = m.s.now()
	w.WriteHeader(http.StatusOK)
}

func rsaFromJWK(n, e string) (*rsa.PublicKey, bool) {
	nb, err1 := base64.RawURLEncoding.DecodeString(n)
	eb, err2 := base64.RawURLEncoding.DecodeString(e)
	if err1 != nil || err2 != nil || len(nb) == 0 || len(eb) == 0 || len(eb) > 4 {
		return nil, false
	}
	ev := int(new(big.Int).SetBytes(eb).Int64())
	if ev < 3 {
		return nil, false
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: ev}, true
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

func ssError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}
