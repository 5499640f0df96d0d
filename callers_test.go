package systemuseragent_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/agent"
	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
	"github.com/systemuser-agent/systemuser-agent/internal/winelane"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// The caller examples of docs/callers.md, each run here against a real agent on loopback whose tokens
// come from the sandbox's Maskinporten for an accepted system user.

// callerExamples are the example files docs/callers.md shows; each must appear there verbatim.
var callerExamples = []string{
	"docs/examples/caller.sh",
	"docs/examples/caller.py",
	"docs/examples/Caller.java",
	"docs/examples/caller.ps1",
	"docs/examples/csharp/Program.cs",
	"docs/examples/csharp/Caller.csproj",
}

// callerRig is an agent serving sandbox tokens, with one local caller whose secret is in a file.
type callerRig struct {
	tokenURL     string
	clientID     string
	secretFile   string
	secret       string
	systemID     string
	systemUserID string
	org          string
}

var rigKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// startCallerRig starts the sandbox, a token client and cache, and the agent on 127.0.0.1:0, as
// `agent run` wires them, with a caller "erp" whose secret file is written the way `agent clients add`
// writes it (the bare secret, owner-only).
func startCallerRig(t *testing.T) *callerRig {
	t.Helper()
	const (
		org      = "314250052"
		mpClient = "9a0f2c4e-1b3d-4e5f-8a7b-6c5d4e3f2a1b"
		kid      = "callers-key"
		scope    = "altinn:demo/read"
	)
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start the sandbox: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	key := rigKey()
	sb.AddOrganization(org, "CALLERS AS")
	if err := sb.RegisterClient(sandbox.Client{ID: mpClient, Org: org, Scopes: []string{scope},
		Keys: []sandbox.ClientKey{{KID: kid, Public: &key.PublicKey}}}); err != nil {
		t.Fatal(err)
	}
	sysID := org + "_erp"
	if err := sb.SeedSystem(sandbox.SystemSeed{ID: sysID, ClientIDs: []string{mpClient},
		Rights: []string{sandbox.ResourceExample}}); err != nil {
		t.Fatal(err)
	}
	suID, err := sb.SeedSystemUser(sysID, org, "")
	if err != nil {
		t.Fatal(err)
	}
	client, err := tokens.NewClient(tokens.ClientOptions{Issuer: sb.MaskinportenIssuer(),
		TokenURL: sb.MaskinportenTokenURL(), AltinnURL: sb.AltinnURL(), ClientID: mpClient, KeyID: kid,
		Signer: key, HTTPClient: tokens.NewHTTPClient(tokens.HTTPOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	cache := tokens.NewCache(client, tokens.CacheOptions{})

	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := base64.RawURLEncoding.EncodeToString(raw)
	secretFile := filepath.Join(t.TempDir(), "erp.secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o400); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	cfg := &config.Config{Environment: config.EnvSandbox, Organization: org, Listen: "127.0.0.1:7070",
		System:      config.System{ID: sysID},
		SystemUsers: []config.SystemUser{{Name: "default", Scopes: []string{scope}}},
		Clients: []config.Client{{ID: "erp", SecretSHA256: hex.EncodeToString(sum[:]),
			SystemUsers: []string{"default"}, Scopes: []string{scope}}}}
	srv, err := agent.New(agent.Options{Config: cfg, Tokens: cache,
		SystemUserID: func(name string) string {
			if name == "default" {
				return suID
			}
			return ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := agent.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent Run: %v", err)
		}
	})
	port := ln.Addr().(*net.TCPAddr).Port
	return &callerRig{tokenURL: "http://127.0.0.1:" + strconv.Itoa(port) + "/oauth2/token", clientID: "erp",
		secretFile: secretFile, secret: secret, systemID: sysID, systemUserID: suID, org: org}
}

// run runs an example with the rig's token URL, client id and secret file as arguments.
func (r *callerRig) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	args = append(args, r.tokenURL, r.clientID, r.secretFile)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	for _, s := range []string{out.String(), stderr.String()} {
		if strings.Contains(s, r.secret) {
			t.Fatalf("%s printed the caller's secret", name)
		}
	}
	if err != nil {
		// stderr holds error messages only; the examples never print a token or secret.
		t.Fatalf("%s %s: %v\nstderr: %s", name, strings.Join(args[:len(args)-3], " "), err, stderr.String())
	}
	return out.String()
}

// check checks what every example prints: how long its token lives, then the agent's introspection of
// it, which names the system user the sandbox approved. No token value is printed.
func (r *callerRig) check(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines (lifetime, introspection), got %d:\n%s", len(lines), out)
	}
	secs, ok := strings.CutPrefix(lines[0], "got a token for ")
	n, err := strconv.Atoi(strings.TrimSuffix(secs, " s"))
	if !ok || err != nil || n < 60 || n > 120 {
		t.Errorf("first line %q, want \"got a token for N s\" with the sandbox's 120 s lifetime", lines[0])
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &info); err != nil {
		t.Fatalf("second line is not the introspection JSON: %v", err)
	}
	want := map[string]any{"active": true, "client_id": r.clientID, "systemuser_id": r.systemUserID,
		"system_id": r.systemID, "systemuser_org": "0192:" + r.org, "token_type": "Bearer",
		"token_kind": "maskinporten", "scope": "altinn:demo/read"}
	for k, v := range want {
		if info[k] != v {
			t.Errorf("introspection %s = %v, want %v", k, info[k], v)
		}
	}
	if strings.Contains(out, "eyJ") {
		t.Error("the example printed something that looks like a JWT; print what the token is, never the token")
	}
}

// TestCallerExamplesShownInDocs keeps docs/callers.md and the examples the tests run the same: each
// example file appears there in full, in a code block.
func TestCallerExamplesShownInDocs(t *testing.T) {
	doc, err := os.ReadFile("docs/callers.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range callerExamples {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		if !bytes.Contains(doc, append([]byte("```"), b...)) && !bytes.Contains(doc, b) {
			t.Errorf("docs/callers.md does not show %s as it is; paste the file into its code block", f)
		}
	}
}

// callersOnLinux is why the caller examples skip in the wine lane.
const callersOnLinux = "runs the curl, Python and Java examples with the host's sh, python3 and java, which the wine prefix lacks; the Linux lane runs them"

// TestCallerCurl runs the curl example (docs/examples/caller.sh).
func TestCallerCurl(t *testing.T) {
	winelane.Skip(t, callersOnLinux)
	realdeps.Tool(t, "curl", "apt-get install curl")
	r := startCallerRig(t)
	r.check(t, r.run(t, "sh", "docs/examples/caller.sh"))
}

// TestCallerPython runs the Python example (requests-oauthlib).
func TestCallerPython(t *testing.T) {
	winelane.Skip(t, callersOnLinux)
	py := pythonWith(t, "requests_oauthlib")
	r := startCallerRig(t)
	r.check(t, r.run(t, py, "docs/examples/caller.py"))
}

// TestCallerJava runs the Java example as a single source file (java.net.http, Java 17).
func TestCallerJava(t *testing.T) {
	winelane.Skip(t, callersOnLinux)
	java := realdeps.Tool(t, "java", "apt-get install default-jdk-headless")
	out, err := exec.Command(java, "-version").CombinedOutput()
	realdeps.Require(t, err == nil && javaMajor(string(out)) >= 17, "Java 17 or later (found: "+
		strings.SplitN(string(out), "\n", 2)[0]+")", "apt-get install default-jdk-headless")
	r := startCallerRig(t)
	r.check(t, r.run(t, java, "docs/examples/Caller.java"))
}

// pythonWith finds a python3 that can import module: Debian's /usr/bin/python3 first (where apt installs
// python3-requests-oauthlib), then the one on PATH.
func pythonWith(t *testing.T, module string) string {
	t.Helper()
	var tried []string
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		tried = append(tried, path)
		if exec.Command(path, "-c", "import "+module).Run() == nil {
			return path
		}
	}
	realdeps.Require(t, false, "python3 with "+module+" (tried "+strings.Join(tried, ", ")+")",
		"apt-get install python3-requests-oauthlib")
	return ""
}

// javaMajor reads the major version from `java -version` output ("openjdk version \"17.0.9\" ...").
func javaMajor(out string) int {
	_, rest, ok := strings.Cut(out, `version "`)
	if !ok {
		return 0
	}
	v, _, _ := strings.Cut(rest, `"`)
	v = strings.TrimPrefix(v, "1.")
	major, _, _ := strings.Cut(v, ".")
	n, _ := strconv.Atoi(major)
	return n
}
