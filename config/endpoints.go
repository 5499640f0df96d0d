package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// defaultEndpoints are the upstream URLs per environment. The issuer keeps its trailing slash: it is the
// grant's aud, compared byte for byte by Maskinporten.
var defaultEndpoints = map[Environment]Endpoints{
	EnvTest: {
		MaskinportenIssuer: "https://test.maskinporten.no/",
		MaskinportenToken:  "https://test.maskinporten.no/token",
		Altinn:             "https://platform.tt02.altinn.no",
	},
	EnvProduction: {
		MaskinportenIssuer: "https://maskinporten.no/",
		MaskinportenToken:  "https://maskinporten.no/token",
		Altinn:             "https://platform.altinn.no",
	},
}

// defaultSelfService is Digdir's self-service API base per environment (maskinporten.md §1).
var defaultSelfService = map[Environment]string{
	EnvTest:       "https://api.test.samarbeid.digdir.no/api/v1",
	EnvProduction: "https://api.samarbeid.digdir.no/api/v1",
}

// SelfServiceURL is the self-service API base the admin client uses: maskinporten.admin.self_service_url,
// else the environment's. Without an admin client it is "" and no error.
func (c *Config) SelfServiceURL() (string, error) {
	if !c.Maskinporten.HasAdmin() {
		return "", nil
	}
	a := c.Maskinporten.Admin
	u := a.SelfServiceURL
	if u == "" {
		env := c.Environment
		if env == "" {
			env = EnvTest
		}
		u = defaultSelfService[env]
	}
	if u == "" {
		return "", errors.New("is required with environment: sandbox; `agent sandbox` prints it")
	}
	if err := checkEndpointURL(u); err != nil {
		return "", err
	}
	return strings.TrimRight(u, "/"), nil
}

// endpointField pairs an Endpoints field with its YAML path.
type endpointField struct {
	path  string
	value *string
}

func (e *Endpoints) fields() []endpointField {
	return []endpointField{
		{"endpoints.maskinporten_issuer", &e.MaskinportenIssuer},
		{"endpoints.maskinporten_token", &e.MaskinportenToken},
		{"endpoints.altinn", &e.Altinn},
	}
}

// ResolvedEndpoints returns the upstream URLs: the environment's defaults, each overridden by a non-empty
// endpoints field. The sandbox has no defaults, so all three must be set. Altinn is returned without a
// trailing slash. Every URL is checked as Validate checks it.
func (c *Config) ResolvedEndpoints() (Endpoints, error) {
	var p problems
	e := c.resolveEndpoints(&p)
	if len(p.errs) > 0 {
		return Endpoints{}, fmt.Errorf("resolve upstream endpoints: %w", p.errs)
	}
	return e, nil
}

// checkEndpoints adds the problems of ResolvedEndpoints to p.
func (c *Config) checkEndpoints(p *problems) { c.resolveEndpoints(p) }

func (c *Config) resolveEndpoints(p *problems) Endpoints {
	env := c.Environment
	if env == "" {
		env = EnvTest
	}
	out, known := defaultEndpoints[env]
	if !known && env != EnvSandbox {
		p.add("environment", "is %s; use test (Maskinporten TEST and Altinn TT02), production, or sandbox (the embedded fakes of `agent sandbox`)", quote(string(env)))
	}
	over := c.Endpoints
	of := out.fields()
	for i, f := range over.fields() {
		if *f.value != "" {
			*of[i].value = *f.value
		}
	}
	for _, f := range of {
		v := *f.value
		if v == "" {
			if env == EnvSandbox {
				p.add(f.path, "is required with environment: sandbox, which has no fixed address; `agent sandbox` prints the three endpoints to paste here")
			}
			continue
		}
		if err := checkEndpointURL(v); err != nil {
			p.add(f.path, "%v", err)
		} else if env != EnvSandbox && strings.HasPrefix(strings.ToLower(v), "http:") {
			p.add(f.path, "is %s with environment: %s; plain http (even to this machine) is allowed only with environment: sandbox, the embedded fakes: use the https URL of Maskinporten or Altinn, or set environment: sandbox", quote(v), env)
		}
	}
	if v := out.MaskinportenIssuer; v != "" && !strings.HasSuffix(v, "/") {
		p.add("endpoints.maskinporten_issuer", "is %s; it must end with \"/\" because it is sent byte for byte as the grant's aud, e.g. https://test.maskinporten.no/", quote(v))
	}
	out.Altinn = strings.TrimRight(out.Altinn, "/")
	return out
}

// checkEndpointURL accepts absolute https URLs, and http only to a literal loopback IP or localhost (the
// sandbox). TLS is always verified elsewhere; there is no setting to turn that off.
func checkEndpointURL(v string) error {
	if hasSpace(v) {
		return errors.New("contains whitespace; write the URL without spaces")
	}
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("is not a URL (%w); write e.g. https://test.maskinporten.no/token", errors.Unwrap(err))
	}
	switch {
	case u.Opaque != "" || u.Host == "":
		return fmt.Errorf("is %s; write an absolute URL such as https://test.maskinporten.no/token", quote(v))
	case u.User != nil:
		return errors.New("contains a user name or password; remove it: credentials never go in URLs")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v, "#"):
		return fmt.Errorf("is %s; remove the query (?...) and fragment (#...): the agent adds what it needs", quote(v))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("is %s; use https: plain http is allowed only to this machine (127.0.0.1, [::1] or localhost) for the sandbox, because grants and tokens must not cross a network unencrypted", quote(v))
	default:
		return fmt.Errorf("is %s; use an https:// URL", quote(v))
	}
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Zone() == "" && ((ip.Is4() && ip.IsLoopback()) || ip == netip.IPv6Loopback())
}
