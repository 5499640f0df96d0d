package jwks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// Self-service scopes (maskinporten.md §6.2).
const (
	// ScopeRead reads clients and their keys.
	ScopeRead = "idporten:dcr.read"
	// ScopeWrite replaces a client's keys.
	ScopeWrite = "idporten:dcr.write"
)

// Client talks to Digdir's self-service API as the organisation's admin client. Set the fields, then use
// it; safe for concurrent use.
type Client struct {
	// BaseURL is the API base, e.g. https://api.test.samarbeid.digdir.no/api/v1.
	BaseURL string
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Tokens gives the admin client's Maskinporten token (plain, no system user).
	Tokens tokens.Source
	// Scopes, when set, are the scopes of every admin token (one token serves reads and uploads); empty
	// means ScopeRead for reads and ScopeWrite for uploads.
	Scopes []string
}

// Error is a refusal of the self-service API: HTTP status, its error code and description.
type Error struct {
	Op          string
	Status      int
	Code        string
	Description string
}

// Error says what failed and what to do.
func (e *Error) Error() string {
	hint := ""
	switch e.Status {
	case http.StatusForbidden:
		if e.Code == "access_denied" {
			hint = "; Digdir's rule: the self-service (admin) client signs its grants with the organisation's enterprise certificate " +
				"(x5c, maskinporten.admin.grant_header: x5c, the default) and not with a registered key"
			break
		}
		fallthrough
	case http.StatusUnauthorized:
		hint = "; the admin client needs scopes idporten:dcr.read and idporten:dcr.write, granted by Digdir, and " +
			"(Digdir's rule) the enterprise certificate"
	case http.StatusNotFound:
		hint = "; check maskinporten.client_id: the client must belong to the admin client's organisation"
	case http.StatusConflict:
		hint = "; every key needs its own kid"
	}
	return fmt.Sprintf("jwks: %s: HTTP %d %s: %s%s", e.Op, e.Status, e.Code, e.Description, hint)
}

// Get reads the keys registered on clientID with their expiry.
func (c *Client) Get(ctx context.Context, clientID string) (*Set, error) {
	var out Set
	if err := c.do(ctx, "read the keys of client "+clientID, http.MethodGet, clientID, ScopeRead, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Replace uploads keys as clientID's whole key set (at most MaxKeys) and returns the set as the API
// stored it, with each key's expiry. Build keys with Merge so no other server's key is dropped.
func (c *Client) Replace(ctx context.Context, clientID string, keys []Key) (*Set, error) {
	if len(keys) == 0 || len(keys) > MaxKeys {
		return nil, fmt.Errorf("jwks: upload %d keys to client %s: between 1 and %d keys", len(keys), clientID, MaxKeys)
	}
	var out Set
	if err := c.do(ctx, "upload the keys of client "+clientID, http.MethodPost, clientID, ScopeWrite, Set{Keys: keys}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) do(ctx context.Context, op, method, clientID, scope string, body, out any) error {
	if c.Tokens == nil || c.BaseURL == "" {
		return fmt.Errorf("jwks: %s: no admin client configured (a bug in the caller)", op)
	}
	scopes := c.Scopes
	if len(scopes) == 0 {
		scopes = []string{scope}
	}
	tok, err := c.Tokens.Token(ctx, tokens.Request{Scopes: scopes})
	if err != nil {
		return fmt.Errorf("jwks: %s: get the admin client's token (scope %s): %w", op, strings.Join(scopes, " "), err)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("jwks: %s: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	u := strings.TrimRight(c.BaseURL, "/") + "/clients/" + url.PathEscape(clientID) + "/jwks"
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("jwks: %s: %w (check the self-service URL)", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("jwks: %s: %w (check that %s is reachable)", op, err, c.BaseURL)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("jwks: %s: read the reply: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Op: op, Status: resp.StatusCode}
		var p struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(data, &p) == nil {
			e.Code, e.Description = p.Error, p.Description
		}
		if e.Description == "" {
			e.Description = strings.TrimSpace(string(bytes.ReplaceAll(data, []byte(tok.AccessToken), []byte("[redacted]"))))
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("jwks: %s: unreadable reply: %w", op, err)
		}
	}
	return nil
}
