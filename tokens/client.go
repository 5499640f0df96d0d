package tokens

import (
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// ClientOptions configure a Client. Issuer, TokenURL, ClientID, Signer and one of KeyID or X5C are
// required; AltinnURL only for KindAltinn.
type ClientOptions struct {
	// Issuer is Maskinporten's issuer, sent byte-identical as the grant's aud (trailing slash included).
	Issuer string
	// TokenURL is Maskinporten's token endpoint.
	TokenURL string
	// ClientID is the Maskinporten client id (the grant's iss).
	ClientID string
	// KeyID is the kid of the key registered on the client. Exactly one of KeyID and X5C is set.
	KeyID string
	// X5C is an enterprise certificate chain (DER, leaf first), sent instead of KeyID.
	X5C [][]byte
	// Signer signs grants; it must hold an RSA key of at least 2048 bits (RS256).
	Signer crypto.Signer
	// AltinnURL is the Altinn platform base URL, e.g. https://platform.tt02.altinn.no; needed for KindAltinn.
	AltinnURL string
	// HTTPClient carries every request; nil means NewHTTPClient(HTTPOptions{}).
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Retry bounds retries; the zero value means the defaults.
	Retry RetryPolicy
	// Logger receives warnings and debug lines (never a grant or token); nil discards.
	Logger *slog.Logger
}

// Client gets tokens from Maskinporten and exchanges them at Altinn. Every call is a fresh upstream
// request: wrap it in a Cache. Safe for concurrent use.
type Client struct {
	issuer, tokenURL, clientID, altinnURL string

	key atomic.Pointer[signingKey] // swapped whole by SetSigner; every grant reads it once

	http  *http.Client
	now   func() time.Time
	retry RetryPolicy
	log   *slog.Logger
}

// NewClient checks o and returns a Client. Errors name the option and the fix.
func NewClient(o ClientOptions) (*Client, error) {
	if o.Issuer == "" {
		return nil, errors.New("tokens: Issuer is empty: set it to Maskinporten's issuer, e.g. https://test.maskinporten.no/")
	}
	if err := checkUpstreamURL("tokens: Issuer", o.Issuer); err != nil {
		return nil, err
	}
	if o.TokenURL == "" {
		return nil, errors.New("tokens: TokenURL is empty: set it to Maskinporten's token endpoint, e.g. https://test.maskinporten.no/token")
	}
	if err := checkUpstreamURL("tokens: TokenURL", o.TokenURL); err != nil {
		return nil, err
	}
	if o.AltinnURL != "" {
		if err := checkUpstreamURL("tokens: AltinnURL", o.AltinnURL); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(o.ClientID) == "" || strings.ContainsAny(o.ClientID, " \t\r\n") {
		return nil, fmt.Errorf("tokens: ClientID %q is empty or has spaces: set the Maskinporten client id", o.ClientID)
	}
	key, err := newSigningKey(o.Signer, o.KeyID, o.X5C)
	if err != nil {
		return nil, err
	}
	c := &Client{
		issuer:    o.Issuer,
		tokenURL:  o.TokenURL,
		clientID:  o.ClientID,
		altinnURL: strings.TrimRight(o.AltinnURL, "/"),
		http:      o.HTTPClient,
		now:       o.Now,
		retry:     o.Retry.WithDefaults(),
		log:       o.Logger,
	}
	if c.http == nil {
		c.http = NewHTTPClient(HTTPOptions{})
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.key.Store(key)
	return c, nil
}

// signingKey is the key grants are signed with and its fixed JOSE header.
type signingKey struct {
	signer crypto.Signer
	kid    string // "" with x5c
	header []byte // JOSE header JSON
	sigLen int    // signature length in bytes (RSA modulus size)
}

// newSigningKey checks signer (RSA, at least 2048 bits) and encodes the header for kid or x5c.
func newSigningKey(signer crypto.Signer, kid string, x5c [][]byte) (*signingKey, error) {
	if (kid == "") == (len(x5c) == 0) {
		return nil, errors.New("tokens: set exactly one of KeyID (a key registered on the client) and X5C (an enterprise certificate chain)")
	}
	if signer == nil {
		return nil, errors.New("tokens: Signer is nil: load the Maskinporten key from the key store")
	}
	pub, ok := signer.Public().(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("tokens: the signing key is %T, not RSA: Maskinporten grants are RS256; generate or import an RSA-2048 key", signer.Public())
	}
	if pub.N.BitLen() < 2048 {
		return nil, fmt.Errorf("tokens: the RSA key has %d bits; Maskinporten needs at least 2048: generate a new key", pub.N.BitLen())
	}
	header, err := encodeHeader(kid, x5c)
	if err != nil {
		return nil, fmt.Errorf("tokens: encode JOSE header: %w", err)
	}
	return &signingKey{signer: signer, kid: kid, header: header, sigLen: pub.Size()}, nil
}

// SetSigner switches the key grants are signed with, at once and for every later grant, without a
// restart: a grant being signed finishes with the key it started with, no caller waits, and cached
// tokens stay valid (they are not bound to the key). kid must be registered on the client before the
// switch (keys rotate: upload B, wait, SetSigner(B), remove A later). A bad key is refused and the
// current one stays.
func (c *Client) SetSigner(signer crypto.Signer, kid string) error {
	k, err := newSigningKey(signer, kid, nil)
	if err != nil {
		return err
	}
	old := c.key.Swap(k)
	c.log.Info("the Maskinporten signing key was switched", "old_kid", old.kid, "kid", kid)
	return nil
}

// KeyID is the kid grants are signed with now ("" when an x5c certificate is used).
func (c *Client) KeyID() string { return c.key.Load().kid }

// Issuer is the Maskinporten issuer (grant aud) this client uses.
func (c *Client) Issuer() string { return c.issuer }

// ClientID is the Maskinporten client id this client uses.
func (c *Client) ClientID() string { return c.clientID }

// Token gets a new token for r from upstream, uncached. For KindAltinn it gets a Maskinporten token and
// exchanges it (a Cache instead takes the Maskinporten token from itself, see Cache).
func (c *Client) Token(ctx context.Context, r Request) (Token, error) {
	r = r.Normalize()
	if err := validateRequest(r); err != nil {
		return Token{}, err
	}
	mp, err := c.maskinporten(ctx, r)
	if err != nil || r.Kind != KindAltinn {
		return mp, err
	}
	return c.Exchange(ctx, mp)
}

// validateRequest checks a normalised request before any grant is signed.
func validateRequest(r Request) error {
	if !r.Kind.Valid() {
		return fmt.Errorf("tokens: unknown token kind %q: use %q or %q", r.Kind, KindMaskinporten, KindAltinn)
	}
	if len(r.Scopes) == 0 {
		return errors.New("tokens: no scope requested: a Maskinporten token needs at least one scope")
	}
	for _, s := range r.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return fmt.Errorf("tokens: scope %q is empty or has spaces: list each scope separately", s)
		}
	}
	if r.Org != "" && !nineDigits(r.Org) {
		return fmt.Errorf("tokens: organisation number %q is not 9 digits", r.Org)
	}
	if r.Org == "" && r.ExternalRef != "" {
		return errors.New("tokens: externalRef without an organisation: set the system user's organisation number")
	}
	if strings.ContainsAny(r.Resource, " \t\r\n") {
		return fmt.Errorf("tokens: resource %q has spaces: give one audience URI", r.Resource)
	}
	return nil
}

func nineDigits(s string) bool {
	if len(s) != 9 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// maskinporten posts grants for r; MP-130 (clock) and MP-012 (jti reused) get exactly one more call
// with a new grant, on top of the transport retries.
func (c *Client) maskinporten(ctx context.Context, r Request) (Token, error) {
	tok, err := c.post(ctx, r)
	if e := AsError(err); e != nil && e.regrant() {
		c.log.Warn("maskinporten refused the grant; retrying once with a new grant",
			"request", r.String(), "code", e.Code, "mp_code", e.MPCode)
		tok, err = c.post(ctx, r)
	}
	return tok, err
}

// post runs one token request with its transport retries.
func (c *Client) post(ctx context.Context, r Request) (Token, error) {
	a := &call{c: c, op: opToken, r: r}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, retryablehttp.ReaderFunc(a.grantBody))
	if err != nil {
		return Token{}, fmt.Errorf("%s: %w", opToken, err)
	}
	req.GetBody = nil // net/http must not replay a body on its own; retryablehttp re-signs instead
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	a.req = req
	resp, err := a.client(ctx).Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		if a.signErr != nil {
			return Token{}, fmt.Errorf("%s: %w", opToken, a.signErr)
		}
		return Token{}, a.doneError(err)
	}
	defer resp.Body.Close()
	body, err := readBody(resp.Body)
	if err != nil {
		return Token{}, &Error{Op: opToken, StatusCode: resp.StatusCode, Err: err, Temporary: true}
	}
	if resp.StatusCode != http.StatusOK {
		return Token{}, newHTTPError(opToken, resp, body, c.now(), a.grant)
	}
	tok, err := parseTokenResponse(body, a.sentAt)
	if err != nil {
		return Token{}, &Error{Op: opToken, StatusCode: resp.StatusCode, Description: err.Error()}
	}
	c.log.Debug("maskinporten token issued", "request", r.String(), "expires_in", tok.Expiry.Sub(a.sentAt).String())
	return tok, nil
}

// tokenResponse is Maskinporten's 200 reply (maskinporten.md §3).
type tokenResponse struct {
	AccessToken string  `json:"access_token"`
	TokenType   string  `json:"token_type"`
	ExpiresIn   seconds `json:"expires_in"`
	Scope       string  `json:"scope"`
}

// seconds accepts expires_in as a JSON number or a numeric string.
type seconds int64

func (s *seconds) UnmarshalJSON(b []byte) error {
	v := strings.Trim(string(b), `"`)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1e9 {
		return fmt.Errorf("expires_in %s is not a number of seconds", clean(string(b), 40))
	}
	*s = seconds(f)
	return nil
}

// parseTokenResponse reads a 200 reply. The expiry is the time the request was sent plus expires_in;
// the token itself is opaque and its exp is never read (maskinporten.md §6.2). Errors never quote the
// body, which holds the token.
func parseTokenResponse(body []byte, sent time.Time) (Token, error) {
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return Token{}, errors.New("the token reply is not JSON")
		}
		return Token{}, fmt.Errorf("the token reply is malformed: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	switch {
	case tr.AccessToken == "":
		return Token{}, errors.New("the token reply has no access_token")
	case tr.ExpiresIn <= 0:
		return Token{}, errors.New("the token reply has no positive expires_in")
	case tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "Bearer"):
		return Token{}, fmt.Errorf("the token reply has token_type %q, not Bearer", clean(tr.TokenType, 40))
	}
	return Token{
		AccessToken: tr.AccessToken,
		TokenType:   "Bearer",
		Scope:       tr.Scope,
		Expiry:      sent.Add(time.Duration(tr.ExpiresIn) * time.Second),
	}, nil
}
