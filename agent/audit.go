package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// callerAudit remembers which tokens a caller has been handed, so the audit trail (D20) has one line per
// caller per token: "who used the organisation's identity". The check on the hot path (a cache hit
// handing this caller the token it got last time) is one atomic load and a string comparison whose
// pointers are equal, as the cache hands out the same string: no lock, no allocation.
type callerAudit struct {
	last atomic.Pointer[string] // the token last logged or matched for this caller

	mu   sync.Mutex
	seen map[string]time.Time // tokens logged for this caller → expiry; expired ones are dropped
}

// auditToken logs tok as handed to caller c, unless this caller already got it (D20). The line names the
// caller, the OS account where the transport knows it, the system user, scope, kind, the token's jti and
// a SHA-256 digest prefix (so an auditor holding a token can find its line), and its expiry; never the
// token.
func (s *Server) auditToken(r *http.Request, c *caller, su config.SystemUser, req tokens.Request, scope string,
	tok tokens.Token) {
	a := &c.audit
	if p := a.last.Load(); p != nil && *p == tok.AccessToken {
		return
	}
	now := s.now()
	a.mu.Lock()
	if a.seen == nil {
		a.seen = make(map[string]time.Time)
	}
	_, dup := a.seen[tok.AccessToken]
	if !dup {
		for t, exp := range a.seen {
			if !exp.After(now) {
				delete(a.seen, t)
			}
		}
		a.seen[tok.AccessToken] = tok.Expiry
	}
	v := tok.AccessToken
	a.last.Store(&v)
	a.mu.Unlock()
	if dup {
		return
	}
	args := []any{"client_id", c.id, "os_account", osAccount(r), "system_user", su.Name,
		"external_ref", su.ExternalRef, "organization", req.Org, "kind", string(req.Kind), "scope", scope,
		"token_jti", tokenJTI(tok.AccessToken), "token_sha256", tokenDigest(tok.AccessToken),
		"expires_at", tok.Expiry.UTC().Format(time.RFC3339)}
	s.log.Info("token issued to caller", args...)
}

// osAccount is the caller's OS account as the transport attests it: the os_user its peer matched
// (D10) with the peer ("sapadm(uid:1000)"), the peer alone ("uid:1000"), or "unknown" on loopback
// TCP, where only the client secret identifies the caller.
func osAccount(r *http.Request) string {
	tc, ok := r.Context().Value(connKey{}).(*trackedConn)
	switch {
	case !ok:
		return "unknown"
	case tc.osUser != "" && tc.peer != "" && tc.peer != "os_user:"+tc.osUser:
		return tc.osUser + "(" + tc.peer + ")"
	case tc.osUser != "":
		return tc.osUser
	case tc.peer != "":
		return tc.peer
	}
	return "unknown"
}

// tokenDigest is the first 16 hex digits of the token's SHA-256: enough to match a token an auditor
// holds, nothing that gives the token back.
func tokenDigest(tok string) string {
	d := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(d[:8])
}

// tokenJTI is the jti claim of a JWT access token (Maskinporten's and Altinn's are JWTs), or "" when the
// token is not a JWT with one. The signature is not checked: the value only labels the log line.
func tokenJTI(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if dec.Decode(&claims) != nil || len(claims.JTI) > 128 || !printable(claims.JTI) {
		return ""
	}
	return claims.JTI
}
