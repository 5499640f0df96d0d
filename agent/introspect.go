package agent

import (
	"crypto/sha256"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// issued is what the agent remembers of a token it served: never the token itself, only its SHA-256.
type issued struct {
	kind        tokens.Kind
	scope       string
	exp         time.Time
	systemUser  string
	externalRef string
}

// issuedRecord is the store's entry of one token.
type issuedRecord struct {
	issued
	callers []string // client ids it was served to (the cache may share a token between callers), under mu
	// dropped is set when the record leaves the store, so that a caller's serialised reply (servedReply)
	// that refers to it records the token again when it is next served.
	dropped atomic.Bool
}

// issuedStore maps SHA-256(token) to what was served, bounded to max entries. A token served to the
// same caller again is not recorded again: the caller's servedReply remembers its record, so a cached
// token is hashed once per caller, not on every request.
type issuedStore struct {
	mu  sync.Mutex
	max int
	m   map[[sha256.Size]byte]*issuedRecord
}

func newIssuedStore(max int) *issuedStore {
	return &issuedStore{max: max, m: make(map[[sha256.Size]byte]*issuedRecord)}
}

// add records that token was served to callerID and returns its record. When full it drops expired
// entries, then the one expiring first.
func (st *issuedStore) add(token, callerID string, info issued, now time.Time) *issuedRecord {
	k := sha256.Sum256([]byte(token))
	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.m[k]; ok {
		if !slices.Contains(e.callers, callerID) {
			e.callers = append(e.callers, callerID)
		}
		return e
	}
	if len(st.m) >= st.max {
		var first [sha256.Size]byte
		var firstExp time.Time
		for key, e := range st.m {
			if !e.exp.After(now) {
				st.drop(key, e)
			} else if firstExp.IsZero() || e.exp.Before(firstExp) {
				first, firstExp = key, e.exp
			}
		}
		if len(st.m) >= st.max {
			st.drop(first, st.m[first])
		}
	}
	e := &issuedRecord{issued: info, callers: []string{callerID}}
	st.m[k] = e
	return e
}

func (st *issuedStore) drop(k [sha256.Size]byte, e *issuedRecord) {
	e.dropped.Store(true)
	delete(st.m, k)
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
	return e.issued, true
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
func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request, q *request) {
	c := s.formCaller(w, r, q)
	if c == nil {
		return
	}
	tok := string(q.form.get(fieldToken))
	if tok == "" {
		badRequest("invalid_request", "token is missing").write(w)
		return
	}
	now := q.now
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
		TokenType: "Bearer", Exp: e.exp.Unix(), SystemUserOrg: "0192:" + c.view.org, SystemUser: e.systemUser,
		SystemUserID: suID, SystemID: c.view.systemID, ExternalRef: e.externalRef, TokenKind: string(e.kind)})
}
