package setup

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
)

func TestCheckers(t *testing.T) {
	tests := []struct {
		name, in, want, err string
		check               func(string) (string, error)
	}{
		{"system id bare name gets the prefix", "sap-local", "314250052_sap-local", "", CheckSystemID("314250052")},
		{"system id with prefix", "314250052_sap", "314250052_sap", "", CheckSystemID("314250052")},
		{"system id of another org", "999999999_sap", "", "must start with 314250052_", CheckSystemID("314250052")},
		{"system id bad chars", "sap local", "", "only letters", CheckSystemID("314250052")},
		{"listen port only", "7071", "127.0.0.1:7071", "", CheckListen},
		{"listen wildcard", "0.0.0.0:7070", "", "every network interface", CheckListen},
		{"packages short names", "skattegrunnlag, urn:altinn:accesspackage:x", "urn:altinn:accesspackage:skattegrunnlag,urn:altinn:accesspackage:x", "", CheckPackages},
		{"packages bad", "Skatt", "", "not an access package", CheckPackages},
		{"rights with action", "res-a:read,res-b", "res-a:read,res-b", "", CheckRights},
		{"scopes need a prefix", "demo", "", "prefix:name", CheckScopes},
		{"environment case", "Sandbox", "sandbox", "", CheckEnvironment},
		{"sandbox url", "http://127.0.0.1:9/", "http://127.0.0.1:9", "", CheckSandboxURL},
		{"sandbox url over plain http elsewhere", "http://example.com", "", "https", CheckSandboxURL},
		{"sandbox url without a scheme", "127.0.0.1:8900", "", "give the whole URL", CheckSandboxURL},
		{"sandbox url with a path", "http://127.0.0.1:8900/altinn", "", "give the whole URL", CheckSandboxURL},
		{"client id uuid", "0b3c2f4e-7a1d-4c55-9e0a-2f6d8b1c9e47", "0b3c2f4e-7a1d-4c55-9e0a-2f6d8b1c9e47", "", CheckClientID},
		{"client id question mark", "?", "", "not a client id", CheckClientID},
		{"key backend file outside the sandbox", "file", "", "sandbox", CheckBackend("test")},
		{"key backend windows-cert needs the config", "windows-cert", "", "key.thumbprint", CheckBackend("test")},
		{"key backend unknown", "vault", "", "tpm2", CheckBackend("test")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.check(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestParseSystemUserSpec(t *testing.T) {
	prev := []config.SystemUser{{Name: "default", Scopes: []string{"a:b"}}}
	tests := []struct {
		spec, err string
	}{
		{"name=payroll ref=payroll scopes=a:b,c:d", ""},
		{"name=payroll scopes=a:b", "already uses this externalRef"},
		{"name=default ref=x scopes=a:b", "already configured"},
		{"name=payroll ref=p scope=a:b", "unknown key \"scope\""},
		{"name=payroll ref=p", "at least one Maskinporten scope"},
		{"payroll", "not key=value"},
	}
	for _, tt := range tests {
		su, err := ParseSystemUserSpec(tt.spec, "314250052", prev)
		if tt.err == "" {
			if err != nil || su.Name != "payroll" || len(su.Scopes) != 2 {
				t.Errorf("%q: %+v, %v", tt.spec, su, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q: error %v, want %q", tt.spec, err, tt.err)
		}
	}
}

// TestCheckBackendTPM2: the wizard takes tpm2 where it exists (Linux) and says what to use elsewhere.
func TestCheckBackendTPM2(t *testing.T) {
	got, err := CheckBackend("production")("tpm2")
	if onLinux() && (err != nil || got != "tpm2") {
		t.Errorf("tpm2 on Linux: %q, %v", got, err)
	}
	if !onLinux() && (err == nil || !strings.Contains(err.Error(), "needs Linux")) {
		t.Errorf("tpm2 off Linux: %v", err)
	}
}

// TestProbeAndRegisterOnSandbox: a URL where nothing listens says to start `agent sandbox`; one where
// something else answers says so; the real sandbox gives its catalogue and registers a client.
func TestProbeAndRegisterOnSandbox(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	_ = ln.Close()
	if _, err := ProbeSandbox(ctx, dead); err == nil || !strings.Contains(err.Error(), "start `agent sandbox`") {
		t.Errorf("nothing listening: %v", err)
	}
	other := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(other.Close)
	if _, err := ProbeSandbox(ctx, other.URL); err == nil || !strings.Contains(err.Error(), "not as `agent sandbox` does") {
		t.Errorf("another server: %v", err)
	}
	if DefaultSandboxURL != "http://"+sandbox.DefaultListen {
		t.Errorf("DefaultSandboxURL %s is not where agent sandbox serves by default (%s)", DefaultSandboxURL, sandbox.DefaultListen)
	}
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	cat, err := ProbeSandbox(ctx, sb.URL())
	if err != nil || len(cat.APIScopes) == 0 || len(cat.Resources) == 0 {
		t.Fatalf("sandbox: %+v, %v", cat, err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"})
	reg, err := RegisterOnSandbox(ctx, &config.Config{Environment: config.EnvSandbox, Organization: "314250052", Endpoints: SandboxEndpoints(sb.URL()),
		Maskinporten: config.Maskinporten{ClientID: "client-9"}, SystemUsers: []config.SystemUser{{Scopes: cat.APIScopes}}}, jwk)
	if err != nil || reg == nil || !reg.Created || reg.KID != "k1" || !strings.Contains(reg.String(), "registered Maskinporten client client-9") {
		t.Fatalf("register: %+v, %v", reg, err)
	}
	if _, err := registerOnSandbox(ctx, sb.URL(), "client-9", "310000001", jwk, nil); err == nil ||
		!strings.Contains(err.Error(), "choose another client id") {
		t.Errorf("another organisation's client id: %v", err)
	}
}
