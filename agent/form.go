package agent

import (
	"bytes"
	"net/url"
	"strconv"
	"sync"
)

// The form fields of /oauth2/token and /oauth2/introspect the agent reads; any other parameter is
// ignored (RFC 6749 §3.2), but no parameter may appear twice.
const (
	fieldGrantType = iota
	fieldScope
	fieldSystemUser
	fieldClientID
	fieldClientSecret
	fieldToken
	numFields
)

var fieldNames = [numFields]string{"grant_type", "scope", "system_user", "client_id", "client_secret", "token"}

// oauthForm is a parsed /oauth2/* form body: the known fields as views into the request's scratch buffer,
// decoded in place. It is valid until the request ends; code that keeps a value converts it to a string.
type oauthForm struct {
	value   [numFields][]byte
	present [numFields]bool
}

// has reports whether field i was sent (possibly empty).
func (f *oauthForm) has(i int) bool { return f.present[i] }

// get is field i, empty when it was not sent.
func (f *oauthForm) get(i int) []byte { return f.value[i] }

// maxFastParams is how many parameters the in-place parser checks for repeats with a fixed array; a
// longer form (no real client sends one) goes through url.ParseQuery.
const maxFastParams = 32

// parseForm parses an application/x-www-form-urlencoded body the way url.ParseQuery does ('&'
// separated, empty parts skipped, '+' and %XX decoded, a ';' refused), refusing any parameter
// that appears twice. It decodes body in place and allocates nothing for a form of up to maxFastParams
// parameters.
func parseForm(body []byte, f *oauthForm) *oauthError {
	*f = oauthForm{}
	params := 1
	for _, c := range body {
		if c == '&' {
			params++
		}
	}
	if params > maxFastParams {
		return parseFormSlow(body, f)
	}
	var keys [maxFastParams][]byte
	n := 0
	for rest := body; len(rest) > 0; {
		var part []byte
		part, rest = cut(rest, '&')
		if len(part) == 0 {
			continue
		}
		if indexByte(part, ';') >= 0 { // anywhere in the part, as url.ParseQuery
			return badRequest("invalid_request", "the form body cannot be parsed")
		}
		key, val := cut(part, '=')
		key, ok1 := unescapeInPlace(key)
		val, ok2 := unescapeInPlace(val)
		if !ok1 || !ok2 {
			return badRequest("invalid_request", "the form body cannot be parsed")
		}
		for _, k := range keys[:n] {
			if string(k) == string(key) {
				return repeated(string(key))
			}
		}
		keys[n] = key
		n++
		for i, name := range fieldNames {
			if string(key) == name {
				f.value[i], f.present[i] = val, true
				break
			}
		}
	}
	return nil
}

// parseFormSlow is parseForm for long forms: url.ParseQuery and a copy of the known fields.
func parseFormSlow(body []byte, f *oauthForm) *oauthError {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return badRequest("invalid_request", "the form body cannot be parsed")
	}
	for k, v := range form {
		if len(v) != 1 {
			return repeated(k)
		}
	}
	for i, name := range fieldNames {
		if v, ok := form[name]; ok {
			f.value[i], f.present[i] = []byte(v[0]), true
		}
	}
	return nil
}

func repeated(key string) *oauthError {
	return badRequest("invalid_request", "parameter "+strconv.Quote(trimForLog(key))+" is repeated")
}

// cut splits b at the first sep: before and after it, or b and nil.
func cut(b []byte, sep byte) (before, after []byte) {
	if i := indexByte(b, sep); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

func indexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }

// unescapeInPlace decodes '+' and %XX of a query component into b itself (the result is never longer)
// and returns the decoded prefix. On a malformed escape it returns ok false, as url.QueryUnescape, and
// leaves b as it was.
func unescapeInPlace(b []byte) (_ []byte, ok bool) {
	if bytes.IndexByte(b, '%') < 0 && bytes.IndexByte(b, '+') < 0 { // the usual value: nothing to decode
		return b, true
	}
	escaped := false
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '+':
			escaped = true
		case '%':
			if i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) {
				return b, false
			}
			escaped = true
			i += 2
		}
	}
	if !escaped {
		return b, true
	}
	w := 0
	for r := 0; r < len(b); r++ {
		switch c := b[r]; c {
		case '+':
			b[w] = ' '
		case '%':
			b[w] = unhex(b[r+1])<<4 | unhex(b[r+2])
			r += 2
		default:
			b[w] = c
		}
		w++
	}
	return b[:w], true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// scratch is per-request working memory of /oauth2/*: the form body and the decoded Basic credentials,
// recycled through scratchPool so that the hot path allocates neither. Both may hold a secret: release
// wipes what was used before the scratch goes back to the pool.
type scratch struct {
	body  []byte // the form body as read, over bodyA or, for a longer body, its own array
	cred  []byte // the decoded Basic credentials, over credA or its own array
	bodyA [1024]byte
	credA [256]byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// release wipes the scratch and returns it to the pool. Nothing may use its views afterwards.
func (sc *scratch) release() {
	clear(sc.bodyA[:min(len(sc.body), len(sc.bodyA))]) // the first part, also when the body outgrew it
	clear(sc.body)
	clear(sc.credA[:min(len(sc.cred), len(sc.credA))])
	clear(sc.cred)
	sc.body, sc.cred = nil, nil
	scratchPool.Put(sc)
}
