package agent

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// clientSecret is a secret a caller presented. It holds a byte slice so that == does not compile
// (compare digests with crypto/subtle), and every formatter prints [redacted] (D5, D11).
type clientSecret struct{ b []byte }

func newClientSecret(s string) clientSecret { return clientSecret{b: []byte(s)} }

func (clientSecret) String() string               { return "[redacted]" }
func (clientSecret) GoString() string             { return "[redacted]" }
func (clientSecret) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte("[redacted]")) }
func (clientSecret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (clientSecret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }
func (s clientSecret) digest() [sha256.Size]byte  { return sha256.Sum256(s.b) }

// caller is one configured local caller and its allowlists (D6), with what the hot path needs made
// once at start.
type caller struct {
	id          string
	idBytes     []byte // id, for constant-time compares without a conversion per request
	digest      [sha256.Size]byte
	systemUsers []string            // allowed, by name; the first is the default
	allowedSU   map[string]struct{} // systemUsers as a set: one lookup per request however many there are
	scopes      []string            // allowed, sorted
	kind        tokens.Kind
	osUser      string      // OS account that needs no secret on an attested connection (D10)
	noSecret    bool        // no secret configured: only an attested connection authenticates it
	audit       callerAudit // tokens already logged for this caller (D20)
	view        *view       // the configuration this caller belongs to
	// defaultScopes is, per allowed system user, the scopes a request without scope gets: sorted, the
	// normalised tokens.Request scopes, shared by every such request (nothing writes into them).
	defaultScopes map[string][]string
	// defaultReply is, per allowed system user, the reply to a request without scope, serialised once
	// per token (see servedReply); lastReply is the one to the caller's last request that named scopes.
	defaultReply map[string]*atomic.Pointer[servedReply]
	lastReply    atomic.Pointer[servedReply]
}

// replySlot is where the serialised reply to a request for system user su with (explicit) or without
// scopes is kept.
func (c *caller) replySlot(su string, explicit bool) *atomic.Pointer[servedReply] {
	if p := c.defaultReply[su]; p != nil && !explicit {
		return p
	}
	return &c.lastReply
}

// callerTable holds the callers in config order.
type callerTable struct {
	list []*caller
	ids  map[string]*caller
}

// authenticate returns the caller with this id and secret, or nil. It compares the digest of the
// presented secret with every caller's digest in constant time, whether or not the id is known, so
// timing tells neither which ids exist nor how much of a secret matched.
func (t *callerTable) authenticate(id []byte, secret clientSecret) *caller {
	d := secret.digest()
	var found *caller
	for _, c := range t.list {
		idOK := subtle.ConstantTimeCompare(id, c.idBytes)
		secretOK := subtle.ConstantTimeCompare(d[:], c.digest[:])
		if idOK&secretOK == 1 && !c.noSecret {
			found = c
		}
	}
	return found
}

// byID is the configured caller with this id, or nil; it says nothing about the secret.
func (t *callerTable) byID(id []byte) *caller { return t.ids[string(id)] }

// byOSUser returns the caller configured with os_user osUser (D10): the one named id, or, when id is
// empty, the only one with that os_user. nil when none (or, without id, several) match.
func (t *callerTable) byOSUser(osUser, id string) *caller {
	var found *caller
	n := 0
	for _, c := range t.list {
		if c.osUser != osUser || (id != "" && c.id != id) {
			continue
		}
		found = c
		n++
	}
	if n != 1 {
		return nil
	}
	return found
}

// buildCallers builds the lookup table of callers that config.CheckServing has checked: ids unique,
// digests 64 hex digits (or none for an os_user caller), system users and scopes known, kinds valid.
func buildCallers(list []config.Client, sus map[string]config.SystemUser) *callerTable {
	t := &callerTable{ids: make(map[string]*caller, len(list))}
	for _, c := range list {
		raw, _ := hex.DecodeString(c.SecretSHA256)
		noSecret := c.SecretSHA256 == "" && c.OSUser != ""
		kind := tokens.Kind(c.TokenKind)
		if kind == "" {
			kind = tokens.KindMaskinporten
		}
		scopes := slices.Clone(c.Scopes)
		slices.Sort(scopes)
		cl := &caller{id: c.ID, idBytes: []byte(c.ID),
			systemUsers: slices.Clone(c.SystemUsers), scopes: slices.Compact(scopes), kind: kind,
			osUser: c.OSUser, noSecret: noSecret,
			allowedSU: map[string]struct{}{}, defaultScopes: map[string][]string{},
			defaultReply: map[string]*atomic.Pointer[servedReply]{}}
		for _, name := range cl.systemUsers {
			cl.allowedSU[name] = struct{}{}
			cl.defaultReply[name] = new(atomic.Pointer[servedReply])
			su := sus[name]
			var def []string
			for _, s := range cl.scopes {
				if len(su.Scopes) == 0 || slices.Contains(su.Scopes, s) {
					def = append(def, s)
				}
			}
			cl.defaultScopes[name] = slices.Clip(def)
		}
		copy(cl.digest[:], raw)
		t.list = append(t.list, cl)
		t.ids[c.ID] = cl
	}
	return t
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x21 || r == 0x7f {
			return false
		}
	}
	return true
}

// systemUser picks the system user named in the request, or the caller's default (D6).
func (c *caller) systemUser(name []byte, sus map[string]config.SystemUser) (config.SystemUser, *oauthError) {
	if len(name) == 0 {
		return sus[c.systemUsers[0]], nil
	}
	if _, ok := c.allowedSU[string(name)]; ok {
		return sus[string(name)], nil
	}
	return config.SystemUser{}, badRequest("invalid_request",
		"system_user "+fmt.Sprintf("%q", trimForLog(string(name)))+" is not allowed for this client")
}

// grantScopes checks the requested scopes (space-separated; empty means the default) against the
// caller's allowlist and the system user's scopes (when it lists any). The default is every caller
// scope the system user allows (D6). The result is sorted and without repeats (a normalised
// tokens.Request's scopes) and must not be written into: the default is shared.
func (c *caller) grantScopes(requested []byte, su config.SystemUser) ([]string, *oauthError) {
	asked := strings.Fields(string(requested))
	if len(asked) == 0 {
		def := c.defaultScopes[su.Name]
		if len(def) == 0 {
			return nil, badRequest("invalid_scope", "none of this client's scopes is allowed for system user "+
				fmt.Sprintf("%q", su.Name))
		}
		return def, nil
	}
	for _, s := range asked {
		if _, ok := slices.BinarySearch(c.scopes, s); !ok || (len(su.Scopes) != 0 && !slices.Contains(su.Scopes, s)) {
			return nil, badRequest("invalid_scope", fmt.Sprintf("scope %q is not allowed for this client",
				trimForLog(s)))
		}
	}
	slices.Sort(asked)
	return slices.Compact(asked), nil
}
