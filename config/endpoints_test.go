package config

import (
	"strings"
	"testing"
)

func TestResolvedEndpoints(t *testing.T) {
	cases := []struct {
		name string
		env  Environment
		over Endpoints
		want Endpoints
	}{
		{"test", EnvTest, Endpoints{}, Endpoints{"https://test.maskinporten.no/", "https://test.maskinporten.no/token", "https://platform.tt02.altinn.no"}},
		{"empty means test", "", Endpoints{}, Endpoints{"https://test.maskinporten.no/", "https://test.maskinporten.no/token", "https://platform.tt02.altinn.no"}},
		{"production", EnvProduction, Endpoints{}, Endpoints{"https://maskinporten.no/", "https://maskinporten.no/token", "https://platform.altinn.no"}},
		{"one override", EnvProduction, Endpoints{Altinn: "https://altinn.proxy.example/"},
			Endpoints{"https://maskinporten.no/", "https://maskinporten.no/token", "https://altinn.proxy.example"}},
		{"sandbox", EnvSandbox, Endpoints{"http://127.0.0.1:1/", "http://127.0.0.1:1/token", "http://127.0.0.1:2"},
			Endpoints{"http://127.0.0.1:1/", "http://127.0.0.1:1/token", "http://127.0.0.1:2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{Environment: tc.env, Endpoints: tc.over}
			got, err := c.ResolvedEndpoints()
			if err != nil || got != tc.want {
				t.Fatalf("ResolvedEndpoints() = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestResolvedEndpointsErrors(t *testing.T) {
	c := &Config{Environment: EnvSandbox}
	_, err := c.ResolvedEndpoints()
	if err == nil {
		t.Fatal("sandbox without endpoints accepted")
	}
	for _, want := range []string{"endpoints.maskinporten_issuer", "endpoints.maskinporten_token", "endpoints.altinn", "`agent sandbox`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	c = &Config{Environment: EnvSandbox, Endpoints: Endpoints{"http://127.0.0.1:1/", "", "http://127.0.0.1:2"}}
	if _, err := c.ResolvedEndpoints(); err == nil || strings.Contains(err.Error(), "endpoints.altinn") || !strings.Contains(err.Error(), "maskinporten_token") {
		t.Errorf("want only the missing token endpoint named, got %v", err)
	}
	c = &Config{Environment: "staging"}
	if _, err := c.ResolvedEndpoints(); err == nil || !strings.Contains(err.Error(), "environment") {
		t.Errorf("unknown environment: %v", err)
	}
	c = &Config{Environment: EnvTest, Endpoints: Endpoints{MaskinportenIssuer: "https://test.maskinporten.no"}}
	if _, err := c.ResolvedEndpoints(); err == nil || !strings.Contains(err.Error(), "byte for byte") {
		t.Errorf("issuer without slash: %v", err)
	}
	// Plain http to loopback is the sandbox's alone (issue 15 #4).
	for _, env := range []Environment{EnvTest, EnvProduction, ""} {
		for _, u := range []string{"http://127.0.0.1:4000/token", "http://localhost:4000/token", "HTTP://[::1]:4000/token"} {
			c = &Config{Environment: env, Endpoints: Endpoints{MaskinportenToken: u}}
			if _, err := c.ResolvedEndpoints(); err == nil || !strings.Contains(err.Error(), "environment: sandbox") ||
				!strings.Contains(err.Error(), "endpoints.maskinporten_token") {
				t.Errorf("environment %q with %s: %v, want a refusal naming the field and the sandbox", env, u, err)
			}
		}
	}
	c = &Config{Environment: EnvProduction, Endpoints: Endpoints{MaskinportenToken: "http://maskinporten.no/token"}}
	if _, err := c.ResolvedEndpoints(); err == nil {
		t.Error("plain http to a remote host accepted")
	}
}
