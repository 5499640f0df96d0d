package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
)

// TestTPM2KeysAndRun (issue 19) with a software TPM per test: "agent keys generate --backend tpm2" prints
// only the public JWK; importing into the TPM is refused with the reason; "agent run" with the tpm2 key
// serves a token the sandbox's Maskinporten issued for a TPM-signed grant, and /readyz names backend tpm2,
// not exportable; with the key file on another TPM, "agent run" refuses before it serves.
func TestTPM2KeysAndRun(t *testing.T) {
	dev := keystore.SWTPMDevice("127.0.0.1", realdeps.SWTPM(t))
	sb, cfgPath, secret, listen := startSandboxAgentConfig(t)
	dir := filepath.Dir(cfgPath)
	keyDir := filepath.Join(dir, "tpm2")
	r := &keysRun{t: t}
	setKey := func(device string) { // the config names the TPM key; the TPM is a software one
		data, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "  key: ") {
				lines[i] = "  key: {backend: tpm2, name: maskinporten, path: " + keyDir + ", device: \"" + device + "\"}"
			}
		}
		writeFile(t, cfgPath, strings.Join(lines, "\n"))
	}
	setKey(dev)

	code, out, errOut := r.run("", "generate", "--config", cfgPath, "--json")
	if code != exitOK {
		t.Fatalf("generate: exit %d: %s", code, errOut)
	}
	var info cliKeyInfo
	decodeJSON(t, out, &info)
	if info.Backend != "tpm2" || info.Bits != 2048 || info.JWK["kid"] != info.KID {
		t.Fatalf("generate reported %+v", info)
	}
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := info.JWK[m]; ok {
			t.Fatalf("generate printed private member %q", m)
		}
	}
	if _, err := os.Stat(keystore.TPM2KeyPath(keyDir, "maskinporten")); err != nil {
		t.Fatalf("no key file: %v", err)
	}
	k := cliKey()
	r.keys = append(r.keys, k)
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	keyPath := keyFile(t, "import.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	code, _, errOut = r.run("", "import", "--config", cfgPath, "--name", "imported", "--file", keyPath)
	if code == exitOK || !strings.Contains(errOut, "importing a key into the TPM is refused") || !strings.Contains(errOut, "no copy of it exists") {
		t.Fatalf("import into the TPM: exit %d: %s", code, errOut)
	}

	// Register the printed public JWK on the client (as the operator does).
	raw, _ := json.Marshal(info.JWK)
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		t.Fatal(err)
	}
	clientID := configValue(t, cfgPath, "client_id")
	if err := sb.AddClientKey(clientID, sandbox.ClientKey{KID: jwk.KeyID, Public: jwk.Key}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	done, stderr := serveInProcess(t, ctx, cfgPath, listen)
	var ready struct {
		Key *struct {
			Backend    string `json:"backend"`
			Exportable bool   `json:"exportable"`
		} `json:"key"`
	}
	resp, err := http.Get("http://" + listen + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(body, &ready); err != nil || ready.Key == nil || ready.Key.Backend != "tpm2" || ready.Key.Exportable {
		t.Errorf("/readyz = %s; want key backend tpm2, not exportable", body)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+listen+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("sap", secret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"access_token"`) {
		t.Fatalf("token with the TPM key: %d %s\nstderr:\n%s", resp.StatusCode, body, stderr.String())
	}
	cancel()
	<-done

	// The same key file on another TPM (another machine): refused before the service serves.
	setKey(keystore.SWTPMDevice("127.0.0.1", realdeps.SWTPM(t)))
	stderr.Reset()
	code = run(context.Background(), []string{"run", "--config", cfgPath, "--state-dir", filepath.Join(dir, "state")},
		&env{stdin: new(bytes.Buffer), stdout: new(bytes.Buffer), stderr: stderr})
	if code == exitOK || !strings.Contains(stderr.String(), "made by another TPM") || !strings.Contains(stderr.String(), "agent keys generate --backend tpm2") {
		t.Fatalf("run with another TPM's key file: exit %d:\n%s", code, stderr.String())
	}
	if resp, err := http.Get("http://" + listen + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("the agent served with a key file from another TPM")
	}
}

// configValue returns the first "key: value" in the config file.
func configValue(t *testing.T, path, key string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in %s", key, path)
	return ""
}
