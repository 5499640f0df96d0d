package tokens

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// exchangePath is Altinn's Maskinporten token exchange below the platform base (altinn-api.md §7).
const exchangePath = "/authentication/api/v1/exchange/maskinporten"

// Exchange trades a Maskinporten token for an Altinn token:
// GET {AltinnURL}/authentication/api/v1/exchange/maskinporten with the token as Bearer. The reply is a
// bare JWT (JSON quotes are stripped if present). Altinn sends no expires_in, so the expiry comes from
// the JWT's exp claim, decoded without verification for scheduling only; when the JWT also has iat,
// the expiry is at most the send time plus exp−iat, so a clock ahead of ours cannot stretch it.
// 400, 401 and 410 come back as *Error with Op "altinn exchange".
func (c *Client) Exchange(ctx context.Context, mp Token) (Token, error) {
	if c.altinnURL == "" {
		return Token{}, fmt.Errorf("%s: AltinnURL is not configured: set endpoints.altinn to exchange tokens", opExchange)
	}
	if mp.AccessToken == "" {
		return Token{}, fmt.Errorf("%s: no Maskinporten token to exchange", opExchange)
	}
	a := &call{c: c, op: opExchange}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, c.altinnURL+exchangePath, nil)
	if err != nil {
		return Token{}, fmt.Errorf("%s: %w", opExchange, err)
	}
	req.Header.Set("Authorization", "Bearer "+mp.AccessToken)
	req.Header.Set("Accept", "text/plain")
	sent := c.now()
	resp, err := a.client(ctx).Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return Token{}, a.doneError(err)
	}
	defer resp.Body.Close()
	body, err := readBody(resp.Body)
	if err != nil {
		return Token{}, &Error{Op: opExchange, StatusCode: resp.StatusCode, Err: err, Temporary: true}
	}
	if resp.StatusCode != http.StatusOK {
		return Token{}, newHTTPError(opExchange, resp, body, c.now(), mp.AccessToken)
	}
	jwt, expiry, err := parseExchanged(body, sent)
	if err != nil {
		return Token{}, &Error{Op: opExchange, StatusCode: resp.StatusCode, Description: err.Error()}
	}
	if !expiry.After(c.now()) {
		return Token{}, &Error{Op: opExchange, StatusCode: resp.StatusCode,
			Description: "the Altinn token is already expired: check this host's clock"}
	}
	c.log.Debug("altinn token exchanged", "expires_in", expiry.Sub(sent).Round(time.Second).String())
	return Token{AccessToken: jwt, TokenType: "Bearer", Scope: mp.Scope, Expiry: expiry}, nil
}

// parseExchanged returns the JWT of an exchange reply and its expiry. Errors never quote the token.
func parseExchanged(body []byte, sent time.Time) (string, time.Time, error) {
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", time.Time{}, errors.New("the exchange reply is a malformed JSON string")
		}
		b = []byte(strings.TrimSpace(s))
	}
	jwt := string(b)
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", time.Time{}, errors.New("the exchange reply is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", time.Time{}, errors.New("the exchanged JWT's payload is not base64url")
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
		Iat *json.Number `json:"iat"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", time.Time{}, errors.New("the exchanged JWT's payload is not a JSON object")
	}
	if claims.Exp == nil {
		return "", time.Time{}, errors.New("the exchanged JWT has no exp claim")
	}
	exp, err := claims.Exp.Float64()
	if err != nil || exp <= 0 || exp > 1e11 {
		return "", time.Time{}, errors.New("the exchanged JWT's exp claim is not a time")
	}
	expiry := time.Unix(int64(exp), 0)
	if claims.Iat != nil {
		if iat, err := claims.Iat.Float64(); err == nil && iat > 0 && iat < exp {
			if byLife := sent.Add(time.Duration(exp-iat) * time.Second); byLife.Before(expiry) {
				expiry = byLife
			}
		}
	}
	return jwt, expiry, nil
}
