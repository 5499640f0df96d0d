package agent

import (
	"crypto/sha256"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// issued is what the agent remembers of a token it served: never the token itself, only its SHA-256.
type issued struct {
	callers     []string // client ids it was served to (the cache may share a token between callers)
	kind        tokens.Kind
	scope       string
	exp         time.Time
	systemUser  string
	externalRef string
}

// issuedStore maps SHA-256(token) to what was served, bounded to max entries.
type issuedStore struct {
	mu  sync.Mutex
	max int
	m   map[[sha256.Size]byte]*issued
	// recent is, per caller, the last token recorded for it with its digest, so that a cached token
	// served again and again is hashed once, not on every request (hashing a 1 KiB token cost more than
	// a cache hit). It refers to the same string the token cache holds and is replaced by the caller's
	// next token; callers are the configured ones, so it stays small.
	recent map[string]recentToken
}

// recentToken is a caller's last recorded token and its digest.
type recentToken struct {
	token string
	key   [sha256.Size]byte
}

func newIssuedStore(max int) *issuedStore {
	return &issuedStore{max: max, m: make(map[[sha256.Size]byte]*issued), recent: map[string]recentToken{}}
}

// add records that token was served to callerID. When full it drops expired entries, then the one
// expiring first.
func (st *issuedStore) add(token, callerID string, info issued, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if rt, ok := st.recent[callerID]; ok && rt.token == token { // same string: compared in O(1)
		if e, ok := st.m[rt.key]; ok && slices.Contains(e.callers, callerID) {
			return
		}
	}
	k := sha256.Sum256([]byte(token))
	st.recent[callerID] = recentToken{token: token, key: k}
	if e, ok := st.m[k]; ok {
		if !slices.Contains(e.callers, callerID) {
			e.callers = append(e.callers, callerID)
		}
		return
	}
	if len(st.m) >= st.max {
		var first [sha256.Size]byte
		var firstExp time.Time
		for key, e := range st.m {
			if !e.exp.After(now) {
				delete(st.m, key)
			} else if firstExp.IsZero() || e.exp.Before(firstExp) {
				first, firstExp = key, e.exp
			}
		}
		if len(st.m) >= st.max {
			delete(st.m, first)
		}
	}
	info.callers = []string{callerID}
	st.m[k] = &info
}

// lookup returns what was served if token went to callerID and has not expired at now.
func (st *issuedStore) lookup(token, callerID string, now time.Time) (issued, bool) {
	k := sha256.Sum256([]byte(token))
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.m[k]
	if !ok || !slices.Contains(e.callers, callerID) || !e.exp.After(now) {
		return issued{}, false
	}
	return *e, true
}

// introspection is the RFC 7662 response. Inactive tokens get only {"active": false}.
type introspection struct {
	Active        bool   `json:"active"`
	Scope         string `json:"scope,omitempty"`
	ClientID      string `json:"client_id,omitempty"`
	TokenType     string `json:"token_type,omitempty"`
	Exp           int64  `json:"exp,omitempty"`
	SystemUserOrg string `json:"systemuser_org,omitempty"`
	SystemUser    string `json:"system_user,omitempty"`
	SystemUserID  string `json:"systemuser_id,omitempty"`
	SystemID      string `json:"system_id,omitempty"`
	ExternalRef   string `json:"external_ref,omitempty"`
	TokenKind     string `json:"token_kind,omitempty"`
}

// serveIntrospect is POST /oauth2/introspect (RFC 7662) for the caller's own tokens: a token served to
// another caller, expired or unknown is {"active": false}.
func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request, rl *reqLog) {
	form, c := s.formCaller(w, r, rl)
	if c == nil {
		return
	}
	tok := form.Get("token")
	if tok == "" {
		badRequest("invalid_request", "token is missing").write(w)
		return
	}
	now := s.now()
	e, ok := s.issued.lookup(tok, c.id, now)
	if !ok {
		writeJSON(w, http.StatusOK, introspection{})
		return
	}
	var suID string
	if s.suID != nil {
		suID = s.suID(e.systemUser)
	}
	writeJSON(w, http.StatusOK, introspection{Active: true, Scope: e.scope, ClientID: c.id,
		TokenType: "Bearer", Exp: e.exp.Unix(), SystemUserOrg: "0192:" + s.org, SystemUser: e.systemUser,
		SystemUserID: suID, SystemID: s.systemID, ExternalRef: e.externalRef, TokenKind: string(e.kind)})
}
