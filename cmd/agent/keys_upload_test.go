//go:build !windows

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/jwks"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// TestKeysUploadKeepsOtherServers: during a rotation `agent keys jwks` prints this server's active and
// next keys plus the other server's key from maskinporten.other_keys_file; `agent keys upload` with an
// admin client posts that set through the self-service API (the other server's key stays registered)
// and records the expiry read back. Without an admin client it prints the set and asks for
// `--uploaded`, which records the expiry as one year from now.
func TestKeysUploadKeepsOtherServers(t *testing.T) {
	bin := buildAgent(t)
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	s := newServer(t, sb, setup.NewDemoID(), setup.DemoOrg+"_keys")
	other := newServer(t, sb, s.clientID, setup.DemoOrg+"_keys")
	otherKey, err := jwks.FromPublic(other.public(t, "maskinporten"), other.kid)
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(s.dir, "other-servers.jwks")
	data, _ := json.Marshal(jwks.Set{Keys: []jwks.Key{otherKey}})
	writeFile(t, otherFile, string(data))
	if err := sb.RegisterClient(sandbox.Client{ID: s.clientID, Org: setup.DemoOrg, Scopes: []string{setup.DemoScope},
		Keys: []sandbox.ClientKey{{KID: s.kid, Public: s.public(t, "maskinporten")}, {KID: other.kid, Public: other.public(t, "maskinporten")}}}); err != nil {
		t.Fatal(err)
	}
	adminKey, err := s.ks.Generate(t.Context(), "admin", 2048)
	if err != nil {
		t.Fatal(err)
	}
	adminKID, _ := keystore.Thumbprint(adminKey.Public())
	if err := sb.RegisterClient(sandbox.Client{ID: "admin-" + setup.DemoOrg, Org: setup.DemoOrg, Scopes: []string{jwks.ScopeRead, jwks.ScopeWrite},
		Keys: []sandbox.ClientKey{{KID: adminKID, Public: adminKey.Public()}}}); err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile(s.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	withOthers := strings.Replace(string(base), "  key: {backend: file", "  other_keys_file: "+otherFile+"\n  key: {backend: file", 1)
	withAdmin := strings.Replace(withOthers, "  key: {backend: file", "  admin: {client_id: admin-"+setup.DemoOrg+", grant_header: kid, self_service_url: "+
		sb.SelfServiceURL()+", key: {backend: file, name: admin, path: "+filepath.Join(s.dir, "keys")+"}}\n  key: {backend: file", 1)
	writeFile(t, s.cfgPath, withAdmin)

	s.agent(t, bin, "keys", "rotate")
	next := s.public(t, keystore.NextName("maskinporten"))
	nextKID, _ := keystore.Thumbprint(next)
	var printed jwks.Set
	if err := json.Unmarshal([]byte(s.agent(t, bin, "keys", "jwks")), &printed); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range printed.Keys {
		kids = append(kids, k.Kid)
	}
	if strings.Join(kids, ",") != s.kid+","+nextKID+","+other.kid {
		t.Fatalf("agent keys jwks: kids %v, want this server's active and next, then the other server's", kids)
	}
	s.agent(t, bin, "keys", "upload")
	registered, _ := sb.ClientKeys(s.clientID)
	if len(registered) != 3 || registered[2].KID != other.kid {
		t.Fatalf("registered after upload: %+v (the other server's key must stay)", registered)
	}
	st, err := config.LoadState(filepath.Join(s.dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	if k := st.Keys[nextKID]; k.Source != "self-service" || !k.Expires.Equal(registered[1].Expires.Truncate(time.Second).UTC()) {
		t.Fatalf("recorded expiry %+v, want the self-service API's %s", k, registered[1].Expires)
	}

	// Without an admin client: the set is printed with the instruction, and --uploaded records it.
	writeFile(t, s.cfgPath, withOthers)
	out := s.agent(t, bin, "keys", "upload")
	if !strings.Contains(out, "agent keys upload --uploaded") || !strings.Contains(out, other.kid) {
		t.Fatalf("upload without an admin client:\n%s", out)
	}
	s.agent(t, bin, "keys", "upload", "--uploaded")
	st, _ = config.LoadState(filepath.Join(s.dir, "state"))
	if k := st.Keys[s.kid]; k.Source != "confirmed" || time.Until(k.Expires) < 364*24*time.Hour {
		t.Fatalf("confirmed expiry %+v", k)
	}
}
