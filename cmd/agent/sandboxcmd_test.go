package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/internal/testlog"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// startSandboxCmd runs "agent sandbox" with args until the test ends and returns its --json output.
func startSandboxCmd(t *testing.T, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb testlog.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"sandbox", "--listen", "127.0.0.1:0", "--json"}, args...),
			&env{stdin: new(bytes.Buffer), stdout: &out, stderr: &errb})
	}()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for {
		var info map[string]string
		if json.Unmarshal(out.Bytes(), &info) == nil {
			return info
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("agent sandbox exited %d: %s", code, errb.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent sandbox printed no JSON: %q %q", out.String(), errb.String())
		}
	}
}

// TestSandboxSeedAndDrill: --seed-system-user makes a system and an accepted system user for the client,
// so a system-user token is issued at once; --admin serves the drill API that counts grants per key and
// injects and clears faults.
func TestSandboxSeedAndDrill(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kid := "sandbox-cmd-test"
	jwk, err := keystore.PublicJWK(&key.PublicKey, kid)
	if err != nil {
		t.Fatal(err)
	}
	jwkFile := filepath.Join(t.TempDir(), "jwk.json")
	if err := os.WriteFile(jwkFile, jwk, 0o600); err != nil {
		t.Fatal(err)
	}
	info := startSandboxCmd(t, "--org", "314250052", "--client-id", "c1", "--jwk-file", jwkFile,
		"--seed-system-user", "--admin")
	if info["system_id"] != "314250052_sandbox" || info["system_user_id"] == "" || info["admin"] == "" {
		t.Fatalf("output %v lacks the seeded system, system user or drill API", info)
	}
	client, err := tokens.NewClient(tokens.ClientOptions{Issuer: info["maskinporten_issuer"],
		TokenURL: info["maskinporten_token"], ClientID: "c1", KeyID: kid, Signer: key,
		Retry: tokens.RetryPolicy{Max: -1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := tokens.Request{Scopes: []string{"altinn:demo/read"}, Org: "314250052"}
	if _, err := client.Token(ctx, req); err != nil {
		t.Fatalf("system-user token from the seeded sandbox: %v", err)
	}

	admin := strings.TrimSuffix(info["admin"], "/")
	var st sandbox.DrillStats
	adminDo(t, http.MethodGet, admin+"/stats", "", http.StatusOK, &st)
	if st.TokensIssued != 1 || len(st.TokensByKey) != 1 || st.TokensByKey[0].Count != 1 ||
		st.TokensByKey[0].Scopes != "altinn:demo/read" || st.TokensByKey[0].Org != "314250052" {
		t.Fatalf("stats = %+v, want one grant for the key", st)
	}
	adminDo(t, http.MethodPost, admin+"/faults", `{"status":503,"retry_after":"7s"}`, http.StatusNoContent, nil)
	_, err = client.Token(ctx, req)
	if e := tokens.AsError(err); e == nil || e.StatusCode != 503 || e.RetryAfter != 7*time.Second {
		t.Fatalf("with a 503 fault: %v, want 503 with Retry-After 7s", err)
	}
	adminDo(t, http.MethodDelete, admin+"/faults", "", http.StatusNoContent, nil)
	if _, err := client.Token(ctx, req); err != nil {
		t.Fatalf("after clearing the faults: %v", err)
	}
	adminDo(t, http.MethodPost, admin+"/stats/reset", "", http.StatusNoContent, nil)
	adminDo(t, http.MethodGet, admin+"/stats", "", http.StatusOK, &st)
	if st.TokenRequests != 0 || len(st.TokensByKey) != 0 {
		t.Errorf("after reset: %+v", st)
	}
}

// TestSandboxNoDrillAPIByDefault: without --admin, /sandbox/ is not served.
func TestSandboxNoDrillAPIByDefault(t *testing.T) {
	info := startSandboxCmd(t)
	base := strings.TrimSuffix(info["maskinporten_issuer"], "/maskinporten/")
	resp, err := http.Get(base + "/sandbox/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /sandbox/stats without --admin: %d, want 404", resp.StatusCode)
	}
}

func adminDo(t *testing.T, method, url, body string, want int, into any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d", method, url, resp.StatusCode, want)
	}
	if into != nil {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSandboxSeedNeedsClient: --seed-system-user without the client flags is a usage error.
func TestSandboxSeedNeedsClient(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"sandbox", "--listen", "127.0.0.1:0", "--seed-system-user"},
		&env{stdin: new(bytes.Buffer), stdout: &out, stderr: &errb})
	if code != exitUsage || !strings.Contains(errb.String(), "--seed-system-user needs") {
		t.Errorf("exit %d, stderr %q; want a usage error naming the missing flags", code, errb.String())
	}
}
