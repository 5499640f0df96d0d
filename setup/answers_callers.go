package setup

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/callersecret"
	"github.com/systemuser-agent/systemuser-agent/config"
)

// CheckCallerID accepts a new caller id (the OAuth2 client_id), unique among prev.
func CheckCallerID(prev []config.Client) func(string) (string, error) {
	return func(s string) (string, error) {
		if !plainNameRE.MatchString(s) {
			return "", errors.New("use letters, digits, '.', '_' and '-', e.g. sap")
		}
		if slices.ContainsFunc(prev, func(c config.Client) bool { return c.ID == s }) {
			return "", fmt.Errorf("a caller %q is already set up; pick another id", s)
		}
		return s, nil
	}
}

// CheckOSUser accepts an OS account a caller's secret file can be given to.
func CheckOSUser(s string) (string, error) {
	if err := callersecret.CheckOwner(s); err != nil {
		return "", err
	}
	return s, nil
}

// CheckCallerSystemUsers accepts names of configured system users.
func CheckCallerSystemUsers(sus []config.SystemUser) func(string) (string, error) {
	return func(s string) (string, error) {
		var names []string
		for _, su := range sus {
			names = append(names, su.Name)
		}
		for _, n := range SplitList(s) {
			if !slices.Contains(names, n) {
				return "", fmt.Errorf("%q is not a configured system user; use some of: %s", n, strings.Join(names, ", "))
			}
		}
		return strings.Join(SplitList(s), ","), nil
	}
}

// ScopesOf is every scope of the named system users, in order.
func ScopesOf(sus []config.SystemUser, names []string) []string {
	var out []string
	for _, su := range sus {
		if slices.Contains(names, su.Name) {
			for _, s := range su.Scopes {
				if !slices.Contains(out, s) {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// CheckCallerScopes accepts scopes among allowed (the caller's system users' scopes).
func CheckCallerScopes(allowed []string) func(string) (string, error) {
	return func(s string) (string, error) {
		for _, sc := range SplitList(s) {
			if !slices.Contains(allowed, sc) {
				return "", fmt.Errorf("%q is not a scope of the caller's system users (%s)", sc, strings.Join(allowed, ", "))
			}
		}
		return strings.Join(SplitList(s), ","), nil
	}
}

// CheckTokenKind accepts maskinporten or altinn.
func CheckTokenKind(s string) (string, error) {
	s = strings.ToLower(s)
	if s != config.TokenKindMaskinporten && s != config.TokenKindAltinn {
		return "", errors.New("use maskinporten (the Maskinporten token) or altinn (exchanged for an Altinn token)")
	}
	return s, nil
}
