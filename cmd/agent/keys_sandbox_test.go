package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/systemuser-agent/systemuser-agent/callersecret"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// TestKeysGenerateSignsGrantsTheSandboxAccepts: a key made by "agent keys generate" signs grants the
// sandbox accepts once the public JWK it printed is registered on the client, as an operator would do
// in Samarbeidsportalen.
func TestKeysGenerateSignsGrantsTheSandboxAccepts(t *testing.T) {
	skipFileBackendOnWindows(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	keyDir := filepath.Join(dir, "keys")
	cli := func(args ...string) []byte {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(ctx, args, &env{stdin: new(bytes.Buffer), stdout: &out, stderr: &errb}); code != exitOK {
			t.Fatalf("agent %v: exit %d\n%s", args, code, errb.String())
		}
		return out.Bytes()
	}
	var generated struct {
		JWK json.RawMessage `json:"jwk"`
	}
	if err := json.Unmarshal(cli("keys", "generate", "--backend", "file", "--path", keyDir, "--json"), &generated); err != nil {
		t.Fatal(err)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(generated.JWK); err != nil || !jwk.IsPublic() {
		t.Fatalf("generate printed no usable public JWK (%v): %s", err, generated.JWK)
	}

	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	clientID := setup.NewDemoID()
	if err := sb.RegisterClient(sandbox.Client{ID: clientID, Org: setup.DemoOrg, Scopes: []string{setup.DemoScope},
		Keys: []sandbox.ClientKey{{KID: jwk.KeyID, Public: jwk.Key}}}); err != nil {
		t.Fatal(err)
	}
	secret, err := callersecret.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg := sandboxConfig(t, sb, dir, clientID, keyDir, freeLoopbackAddr(t), secret.Digest())

	var got struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(cli("token", "--config", cfg, "--print-token", "--json"), &got); err != nil {
		t.Fatal(err)
	}
	claims, err := sb.VerifyAccessToken(got.AccessToken)
	if err != nil {
		t.Fatalf("the sandbox does not accept the token: %v", err)
	}
	if claims["client_id"] != clientID || sb.Stats().TokensIssued != 1 {
		t.Fatalf("client_id %v, tokens issued %d; want %s and 1", claims["client_id"], sb.Stats().TokensIssued, clientID)
	}
}
