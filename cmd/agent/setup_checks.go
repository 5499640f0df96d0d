package main

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// Validators. Each returns the normalised answer; flags and typed answers go through the same one.

func checkOrg(s string) (string, error) {
	s = strings.ReplaceAll(s, " ", "")
	return s, config.CheckOrgNumber(s)
}

func checkClientID(s string) (string, error) {
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", errors.New("the client id has spaces or control characters; copy it exactly as Samarbeidsportalen shows it")
	}
	return s, nil
}

func checkEnvironment(s string) (string, error) {
	s = strings.ToLower(s)
	switch config.Environment(s) {
	case config.EnvTest, config.EnvProduction, config.EnvSandbox:
		return s, nil
	}
	return "", errors.New("use test, production or sandbox")
}

func checkURL(s string) (string, error) {
	c := config.Config{Environment: config.EnvTest, Endpoints: config.Endpoints{Altinn: s}}
	if _, err := c.ResolvedEndpoints(); err != nil {
		return "", err
	}
	return s, nil
}

func checkSandboxURL(s string) (string, error) {
	s = strings.TrimRight(s, "/")
	c := config.Config{Environment: config.EnvSandbox, Endpoints: sandboxEndpoints(s)}
	if _, err := c.ResolvedEndpoints(); err != nil {
		return "", err
	}
	return s, nil
}

// sandboxEndpoints are the upstream URLs of a sandbox at base (see package sandbox).
func sandboxEndpoints(base string) config.Endpoints {
	return config.Endpoints{MaskinportenIssuer: base + "/maskinporten/", MaskinportenToken: base + "/maskinporten/token", Altinn: base + "/altinn"}
}

// sandboxBase is the sandbox base URL of endpoints made by sandboxEndpoints, or "".
func sandboxBase(ep config.Endpoints) string {
	base, ok := strings.CutSuffix(ep.Altinn, "/altinn")
	if !ok || sandboxEndpoints(base) != ep {
		return ""
	}
	return base
}

var plainNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// checkSystemID prefixes a bare name with "<org>_" and checks the rest as Altinn does.
func checkSystemID(org string) func(string) (string, error) {
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

func checkText(s string) (string, error) {
	if len(s) > 200 {
		return "", errors.New("keep it under 200 characters")
	}
	return s, nil
}

func checkListen(s string) (string, error) {
	if _, err := strconv.ParseUint(s, 10, 16); err == nil {
		s = net.JoinHostPort("127.0.0.1", s)
	}
	return s, config.CheckLoopback(s)
}

func checkRights(s string) (string, error) {
	for _, r := range splitList(s) {
		res, action, _ := strings.Cut(r, ":")
		if !plainNameRE.MatchString(res) || (action != "" && !plainNameRE.MatchString(action)) {
			return "", fmt.Errorf("%q is not a resource id (letters, digits, '.', '_', '-'), optionally followed by :ACTION", r)
		}
	}
	return strings.Join(splitList(s), ","), nil
}

func parseRights(s string) []config.Right {
	var out []config.Right
	for _, r := range splitList(s) {
		res, action, _ := strings.Cut(r, ":")
		out = append(out, config.Right{Resource: res, Action: action})
	}
	return out
}

func formatRights(rs []config.Right) string {
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

// checkPackages turns bare names into urn:altinn:accesspackage:NAME.
func checkPackages(s string) (string, error) {
	var out []string
	for _, p := range splitList(s) {
		name := strings.TrimPrefix(p, "urn:altinn:accesspackage:")
		if !packageNameRE.MatchString(name) {
			return "", fmt.Errorf("%q is not an access package: use its lower-case name, e.g. skattegrunnlag, or urn:altinn:accesspackage:NAME", p)
		}
		out = append(out, "urn:altinn:accesspackage:"+name)
	}
	return strings.Join(out, ","), nil
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// descIf keeps a language's own description unless it simply followed the nb one that is now replaced.
func descIf(lang, oldNB, newNB string) string {
	if lang == oldNB {
		return newNB
	}
	return lang
}

// defaultKeyBackend is the key store the wizard proposes.
func defaultKeyBackend(env config.Environment) string {
	if env == config.EnvSandbox {
		return config.BackendFile
	}
	return config.DefaultKeyBackend(runtime.GOOS)
}

func onLinux() bool { return runtime.GOOS == "linux" }
