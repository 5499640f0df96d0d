package sandbox

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxTokenBody bounds the form body of a token request.
const maxTokenBody = 64 << 10

// tokenReply is the 200 body of /token (maskinporten.md §3).
type tokenReply struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	// grant is what the counters record of the token's grant (not sent).
	grant IssuedGrant
}

// orgRef is an ISO 6523 party reference; ID is upper-case as in real tokens.
type orgRef struct {
	Authority string `json:"authority"`
	ID        string `json:"ID"`
}

// rarClaim is the authorization_details entry of an issued system-user token.
type rarClaim struct {
	Type          string   `json:"type"`
	SystemUserOrg orgRef   `json:"systemuser_org"`
	SystemUserID  []string `json:"systemuser_id"`
	SystemID      string   `json:"system_id"`
	ExternalRef   string   `json:"externalRef,omitempty"`
}

// accessClaims are exactly the claims of a real TEST token (maskinporten.md §3), in its order; aud only
// with resource.
type accessClaims struct {
	Aud                  string     `json:"aud,omitempty"`
	AuthorizationDetails []rarClaim `json:"authorization_details,omitempty"`
	Scope                string     `json:"scope"`
	Iss                  string     `json:"iss"`
	ClientAmr            string     `json:"client_amr"`
	TokenType            string     `json:"token_type"`
	Exp                  int64      `json:"exp"`
	Iat                  int64      `json:"iat"`
	ClientID             string     `json:"client_id"`
	Jti                  string     `json:"jti"`
	Consumer             orgRef     `json:"consumer"`
}

// token serves POST /maskinporten/token.
func (m *maskinporten) token(w http.ResponseWriter, r *http.Request) {
	reply, key, gerr := m.grant(r)
	if gerr != nil {
		m.s.stats.rejected(gerr.counterKey())
		corr := gerr.write(w)
		m.s.log.Info("sandbox maskinporten: token request rejected", "client_id", key.ClientID,
			"status", gerr.status, "error", gerr.err, "code", gerr.code, "correlation_id", corr)
		return
	}
	m.s.stats.issued(key, reply.grant)
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, reply)
	m.s.log.Info("sandbox maskinporten: token issued", "client_id", key.ClientID, "scope", reply.Scope,
		"systemuser_org", key.Org, "expires_in", reply.ExpiresIn)
}

// grant runs every check of maskinporten.md §2 and §7 in order and issues the token. The key names the
// token for the counters (ClientID is the grant's iss, possibly unverified, once known).
func (m *maskinporten) grant(r *http.Request) (*tokenReply, GrantKey, *grantError) {
	var key GrantKey
	assertion, gerr := readTokenForm(r)
	if gerr != nil {
		return nil, key, gerr
	}
	t, gerr := parseJWS(assertion)
	if gerr != nil {
		return nil, key, gerr
	}
	claims, gerr := parseClaims(t.payload)
	if gerr != nil {
		return nil, key, gerr
	}
	key.ClientID = claims.iss
	c, ok := m.lookupClient(claims.iss)
	if !ok {
		return nil, key, invalidGrant("MP-100", "Client not found: %q is not a client in this environment", claims.iss)
	}
	if claims.consumerOrg != nil {
		var co string
		if json.Unmarshal(claims.consumerOrg, &co) == nil && co == c.org {
			return nil, key, badAssertion("combination consumer_org in claim and delegation scope on client is invalid")
		}
		return nil, key, badAssertion("claim consumer_org is not allowed: the sandbox has no supplier delegation")
	}
	now := m.s.now()
	amr, gerr := m.checkSignature(c, t, now)
	if gerr != nil {
		return nil, key, gerr
	}
	if claims.aud != m.s.MaskinportenIssuer() {
		return nil, key, invalidGrant("MP-110", "Invalid JWT claim aud: it must be exactly %q", m.s.MaskinportenIssuer())
	}
	if gerr := checkTimes(claims, now); gerr != nil {
		return nil, key, gerr
	}
	if gerr := m.consumeJTI(c.id, claims.jti, now); gerr != nil {
		return nil, key, gerr
	}
	scopes, gerr := m.checkScopes(c, claims.scope)
	if gerr != nil {
		return nil, key, gerr
	}
	resource, gerr := checkResource(claims.resource)
	if gerr != nil {
		return nil, key, gerr
	}
	su, gerr := m.checkRAR(claims.rar, c)
	if gerr != nil {
		return nil, key, gerr
	}
	sorted := slices.Clone(scopes)
	slices.Sort(sorted)
	key.Scopes, key.Resource = strings.Join(sorted, " "), resource
	if su != nil {
		key.Org, key.ExternalRef = su.org, su.externalRef
	}
	reply, err := m.issue(c, amr, scopes, resource, su)
	if err != nil {
		m.s.log.Error("sandbox maskinporten: issue token", "err", err)
		return nil, key, newGrantError(http.StatusInternalServerError, "server_error", "", "the sandbox could not sign the token")
	}
	reply.grant.ClientID, reply.grant.KID = c.id, t.kid
	return reply, key, nil
}

// readTokenForm applies the transport rules (§3, §7.4) and returns the assertion.
func readTokenForm(r *http.Request) (string, *grantError) {
	if r.Method != http.MethodPost {
		return "", newGrantError(http.StatusMethodNotAllowed, "invalid_request", "", "the token endpoint takes POST only")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", badTransport("Content-Type must be application/x-www-form-urlencoded")
	}
	if r.Header.Get("Authorization") != "" {
		return "", badTransport("no other client authentication: the assertion authenticates the client; drop the Authorization header")
	}
	if r.URL.RawQuery != "" {
		return "", badTransport("parameters go in the form body, not the URL")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxTokenBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", badTransport("the request body is larger than %d bytes", maxTokenBody)
		}
		return "", badTransport("could not read the request body")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", badTransport("the body is not valid form encoding")
	}
	for name, vals := range form {
		switch {
		case name == "client_id" || name == "client_secret" || name == "client_assertion" || name == "client_assertion_type":
			return "", badTransport("no other client authentication: %s is not accepted; the assertion authenticates the client", name)
		case name != "grant_type" && name != "assertion":
			return "", badTransport("unexpected parameter %q: send only grant_type and assertion", name)
		case len(vals) > 1:
			return "", badTransport("parameter %q is repeated", name)
		}
	}
	switch gt := form.Get("grant_type"); gt {
	case jwtBearerGrant:
	case "":
		return "", badTransport("grant_type is required")
	default:
		return "", newGrantError(http.StatusBadRequest, "unsupported_grant_type", "", "grant_type must be "+jwtBearerGrant)
	}
	if form.Get("assertion") == "" {
		return "", badAssertion("the assertion is missing")
	}
	return form.Get("assertion"), nil
}

// issue signs the access token and builds the reply.
func (m *maskinporten) issue(c client, amr string, scopes []string, resource string, su *systemUserGrant) (*tokenReply, error) {
	lifetime := m.lifetime(scopes)
	iat := m.s.now().Unix()
	scope := strings.Join(scopes, " ")
	claims := accessClaims{
		Aud:       resource,
		Scope:     scope,
		Iss:       m.s.MaskinportenIssuer(),
		ClientAmr: amr,
		TokenType: "Bearer",
		Exp:       iat + int64(lifetime/time.Second),
		Iat:       iat,
		ClientID:  c.id,
		Jti:       randomB64(32),
		Consumer:  orgRef{Authority: orgAuthority, ID: "0192:" + c.org},
	}
	if su != nil {
		claims.AuthorizationDetails = []rarClaim{{
			Type:          systemUserType,
			SystemUserOrg: orgRef{Authority: orgAuthority, ID: "0192:" + su.org},
			SystemUserID:  []string{su.userID},
			SystemID:      su.systemID,
			ExternalRef:   su.externalRef,
		}}
	}
	tok, err := m.signJWT(claims)
	if err != nil {
		return nil, err
	}
	return &tokenReply{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(lifetime / time.Second), Scope: scope,
		grant: IssuedGrant{TokenJTI: claims.Jti}}, nil
}
