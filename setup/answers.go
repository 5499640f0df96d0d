package setup

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// The answers of `agent setup`, `agent clients add` and their flag specs: each check returns the
// normalised answer or says what is wrong, so a typed answer, a flag and a spec go through the same rule.

// CheckOrg accepts a 9-digit organisation number with a valid mod-11 check digit (spaces are dropped).
func CheckOrg(s string) (string, error) {
	s = strings.ReplaceAll(s, " ", "")
	return s, config.CheckOrgNumber(s)
}

// CheckClientID accepts a Maskinporten client id (or kid): no spaces or control characters.
func CheckClientID(s string) (string, error) {
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", errors.New("the client id has spaces or control characters; copy it exactly as Samarbeidsportalen shows it")
	}
	if !plainNameRE.MatchString(s) {
		return "", fmt.Errorf("%q is not a client id: Samarbeidsportalen shows a UUID such as "+
			"0b3c2f4e-7a1d-4c55-9e0a-2f6d8b1c9e47 (letters, digits, '-', '_' and '.')", s)
	}
	return s, nil
}

// CheckEnvironment accepts test, production or sandbox, in any case.
func CheckEnvironment(s string) (string, error) {
	s = strings.ToLower(s)
	switch config.Environment(s) {
	case config.EnvTest, config.EnvProduction, config.EnvSandbox:
		return s, nil
	}
	return "", errors.New("use test, production or sandbox")
}

// CheckURL accepts an upstream URL as the config takes it (https, except loopback).
func CheckURL(s string) (string, error) {
	c := config.Config{Environment: config.EnvTest, Endpoints: config.Endpoints{Altinn: s}}
	if _, err := c.ResolvedEndpoints(); err != nil {
		return "", err
	}
	return s, nil
}

// CheckSandboxURL accepts the base URL of a running `agent sandbox`, without a trailing slash.
func CheckSandboxURL(s string) (string, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("%q is not the base URL of a sandbox: give the whole URL `agent sandbox` printed, "+
			"such as http://127.0.0.1:8900", s)
	}
	c := config.Config{Environment: config.EnvSandbox, Endpoints: SandboxEndpoints(s)}
	if _, err := c.ResolvedEndpoints(); err != nil {
		return "", err
	}
	return s, nil
}

// SandboxEndpoints are the upstream URLs of a sandbox at base (see package sandbox).
func SandboxEndpoints(base string) config.Endpoints {
	return config.Endpoints{MaskinportenIssuer: base + "/maskinporten/", MaskinportenToken: base + "/maskinporten/token", Altinn: base + "/altinn"}
}

// SandboxBase is the sandbox base URL of endpoints made by SandboxEndpoints, or "".
func SandboxBase(ep config.Endpoints) string {
	base, ok := strings.CutSuffix(ep.Altinn, "/altinn")
	if !ok || SandboxEndpoints(base) != ep {
		return ""
	}
	return base
}

var plainNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// CheckSystemID prefixes a bare name with "<org>_" and checks the rest as Altinn does.
func CheckSystemID(org string) func(string) (string, error) {
	return func(s string) (string, error) {
		if prefix, _, ok := strings.Cut(s, "_"); ok && prefix != org && len(prefix) == 9 && strings.Trim(prefix, "0123456789") == "" {
			return "", fmt.Errorf("the system id must start with %s_ (your organisation is its own vendor), not %s_", org, prefix)
		}
		if !strings.HasPrefix(s, org+"_") {
			s = org + "_" + s
		}
		if name := strings.TrimPrefix(s, org+"_"); !plainNameRE.MatchString(name) {
			return "", fmt.Errorf("%q: after %s_ use only letters, digits, '.', '_' and '-' (it goes into URLs)", name, org)
		}
		return s, nil
	}
}

// CheckText accepts a system name or description of under 200 characters.
func CheckText(s string) (string, error) {
	if len(s) > 200 {
		return "", errors.New("keep it under 200 characters")
	}
	return s, nil
}

// CheckListen accepts a loopback "host:port"; a bare port means 127.0.0.1:PORT.
func CheckListen(s string) (string, error) {
	if _, err := strconv.ParseUint(s, 10, 16); err == nil {
		s = net.JoinHostPort("127.0.0.1", s)
	}
	return s, config.CheckLoopback(s)
}

// CheckRights accepts resource ids, comma-separated, each optionally RESOURCE:ACTION.
func CheckRights(s string) (string, error) {
	for _, r := range SplitList(s) {
		res, action, _ := strings.Cut(r, ":")
		if !plainNameRE.MatchString(res) || (action != "" && !plainNameRE.MatchString(action)) {
			return "", fmt.Errorf("%q is not a resource id (letters, digits, '.', '_', '-'), optionally followed by :ACTION", r)
		}
	}
	return strings.Join(SplitList(s), ","), nil
}

// ParseRights turns a CheckRights answer into config rights.
func ParseRights(s string) []config.Right {
	var out []config.Right
	for _, r := range SplitList(s) {
		res, action, _ := strings.Cut(r, ":")
		out = append(out, config.Right{Resource: res, Action: action})
	}
	return out
}

// FormatRights is the answer ParseRights reads back as rs.
func FormatRights(rs []config.Right) string {
	var out []string
	for _, r := range rs {
		if r.Action != "" {
			out = append(out, r.Resource+":"+r.Action)
		} else {
			out = append(out, r.Resource)
		}
	}
	return strings.Join(out, ",")
}

var packageNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// CheckPackages turns bare names into urn:altinn:accesspackage:NAME.
func CheckPackages(s string) (string, error) {
	var out []string
	for _, p := range SplitList(s) {
		name := strings.TrimPrefix(p, "urn:altinn:accesspackage:")
		if !packageNameRE.MatchString(name) {
			return "", fmt.Errorf("%q is not an access package: use its lower-case name, e.g. skattegrunnlag, or urn:altinn:accesspackage:NAME", p)
		}
		out = append(out, "urn:altinn:accesspackage:"+name)
	}
	return strings.Join(out, ","), nil
}

// ParseSpec splits "k=v k2=v2" (values without spaces; lists comma-separated) into a map, refusing
// unknown and repeated keys.
func ParseSpec(spec string, known ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range strings.Fields(spec) {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("%q is not key=value; keys: %s", f, strings.Join(known, ", "))
		case !slices.Contains(known, k):
			return nil, fmt.Errorf("unknown key %q; keys: %s", k, strings.Join(known, ", "))
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("key %q given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

var (
	suNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	refRE    = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// CheckSystemUserName accepts a new system user name (lower-case, unique among prev).
func CheckSystemUserName(prev []config.SystemUser) func(string) (string, error) {
	return func(s string) (string, error) {
		if !suNameRE.MatchString(s) {
			return "", errors.New("use lower-case letters, digits, '.', '_' and '-', e.g. default or payroll")
		}
		if slices.ContainsFunc(prev, func(su config.SystemUser) bool { return su.Name == s }) {
			return "", fmt.Errorf("a system user named %q is already configured; pick another name", s)
		}
		return s, nil
	}
}

// CheckRef accepts an externalRef, or "-"/"none" for none; refs must tell the system users apart.
func CheckRef(org string, prev []config.SystemUser) func(string) (string, error) {
	return func(s string) (string, error) {
		if s == "-" || s == "none" {
			s = ""
		}
		if s != "" && !refRE.MatchString(s) {
			return "", errors.New("use only letters, digits, '.', '_' and '-' (it goes into Altinn URLs)")
		}
		eff := cmp.Or(s, org)
		for _, su := range prev {
			if cmp.Or(su.ExternalRef, org) == eff {
				return "", fmt.Errorf("system user %q already uses this externalRef (none means the organisation number); each needs its own", su.Name)
			}
		}
		return s, nil
	}
}

// CheckScopes accepts one or more Maskinporten scopes (prefix:name), comma-separated.
func CheckScopes(s string) (string, error) {
	list := SplitList(s)
	if len(list) == 0 {
		return "", errors.New("give at least one Maskinporten scope, e.g. altinn:systembruker.demo")
	}
	for _, sc := range list {
		if !strings.Contains(sc, ":") || strings.ContainsFunc(sc, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return "", fmt.Errorf("%q is not a Maskinporten scope; scopes look like prefix:name, e.g. skatteetaten:mvameldinginnsending", sc)
		}
	}
	return strings.Join(list, ","), nil
}

// ParseSystemUserSpec reads "name=NAME [ref=REF] scopes=A,B" with the prompts' validators.
func ParseSystemUserSpec(spec, org string, prev []config.SystemUser) (config.SystemUser, error) {
	m, err := ParseSpec(spec, "name", "ref", "scopes")
	if err != nil {
		return config.SystemUser{}, err
	}
	var su config.SystemUser
	if su.Name, err = CheckSystemUserName(prev)(cmp.Or(m["name"], config.DefaultSystemUserName)); err != nil {
		return su, fmt.Errorf("name: %w", err)
	}
	if su.ExternalRef, err = CheckRef(org, prev)(m["ref"]); err != nil {
		return su, fmt.Errorf("ref: %w", err)
	}
	scopes, err := CheckScopes(m["scopes"])
	if err != nil {
		return su, fmt.Errorf("scopes: %w", err)
	}
	su.Scopes = SplitList(scopes)
	return su, nil
}

// CheckAbsPath makes a path absolute.
func CheckAbsPath(s string) (string, error) {
	return filepath.Abs(s)
}

// SplitList splits a list answer at commas and white space, dropping empty items and duplicates.
func SplitList(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// DescriptionFor keeps a language's own description unless it simply followed the nb one that is now replaced.
func DescriptionFor(lang, oldNB, newNB string) string {
	if lang == oldNB {
		return newNB
	}
	return lang
}
