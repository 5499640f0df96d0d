package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/internal/testlog"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// interactiveWizard is the wizard of cmdSetup for args, but reading answers from input as if typed.
func interactiveWizard(t *testing.T, args []string, input io.Reader, stderr io.Writer) *wizard {
	t.Helper()
	var c common
	var f setupFlags
	e := &env{stdin: input, stdout: io.Discard, stderr: stderr}
	fs := newFlags(e, "setup", &c)
	for _, q := range questionFlags {
		fs.String(q.name, "", q.usage)
	}
	fs.Var(&f.systemUsers, "system-user", "")
	fs.Var(&f.callers, "caller", "")
	fs.Bool("no-service", false, "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	given := map[string]string{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = fl.Value.String() })
	w, err := newWizard(e, &c, &f, given)
	if err != nil {
		t.Fatal(err)
	}
	w.a.mode, w.a.in = modeInteractive, newLineReader(input, -1)
	t.Cleanup(w.close)
	return w
}

// answers is a whole interactive session from nothing: a wrong organisation number first.
var answers = []string{
	"123456789",              // organisation number: wrong check digit, asked again
	"314250052",              // organisation number
	"client-1",               // Maskinporten client id
	"sap-local",              // system id → 314250052_sap-local
	"", "SAP lokal (nn)", "", // names nb (default), nn, en (default: nb)
	"",                          // description
	"example-resource",          // rights
	"",                          // access packages (optional with a right)
	"", "", "altinn:demo.x", "", // system user: name, externalRef, scopes, another? (no)
	"",                     // key name
	"",                     // generate or import
	"7071",                 // listen
	"",                     // add a caller? (yes)
	"", "", "", "", "", "", // id, OS account, system users, scopes, kind, secret file
	"", // another caller? (no)
}

func TestWizardInteractive(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	var errOut testlog.Buffer
	w := interactiveWizard(t, []string{"--config", cfgPath, "--environment", "sandbox", "--sandbox-url", liveSandboxURL(t),
		"--key-backend", "file", "--key-path", dir, "--no-service"}, strings.NewReader(strings.Join(answers, "\n")+"\n"), &errOut)
	p, err := w.gather(context.Background())
	if err != nil {
		t.Fatalf("gather: %v\n%s", err, errOut.String())
	}
	c := p.cfg
	if c.Organization != "314250052" || c.System.ID != "314250052_sap-local" || c.System.Name.NB != "sap-local" ||
		c.System.Name.NN != "SAP lokal (nn)" || c.System.Name.EN != "sap-local" || c.Listen != "127.0.0.1:7071" ||
		c.Maskinporten.Key.Backend != "file" || p.keySource != keyGenerate || p.installService {
		t.Errorf("config from the answers: %+v (key source %s, service %v)", c, p.keySource, p.installService)
	}
	if len(c.Clients) != 1 || c.Clients[0].ID != "sap" || c.Clients[0].OSUser != currentUser() || p.secrets["sap"] == nil ||
		c.Clients[0].SecretSHA256 != p.secrets["sap"].Digest() || c.Clients[0].Scopes[0] != "altinn:demo.x" {
		t.Errorf("callers: %+v", c.Clients)
	}
	text := errOut.String()
	if !strings.Contains(text, "✗ 123456789 is not an organisation number: the last digit should be 5") {
		t.Errorf("the wrong organisation number was not re-asked with the reason:\n%s", text)
	}
	if n := strings.Count(text, "Organisation number  (--org)"); n != 1 {
		t.Errorf("the question was shown %d times, want once (then only its prompt again)", n)
	}
	if _, err := os.Stat(cfgPath); !os.IsNotExist(err) {
		t.Error("gather wrote a config")
	}
}

// TestBadAnswersKeepOldConfig: until the answers make a complete, valid config, the old file stays byte
// for byte: bad flags, missing answers, input that ends, Ctrl-C, and an answer that Save refuses.
func TestBadAnswersKeepOldConfig(t *testing.T) {
	skipFileBackendOnWindows(t)
	w := newWizEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.approveAll(ctx)
	if res := runCmd(ctx, w.flags(), nil); res.code != exitOK {
		t.Fatalf("first setup: %d\n%s", res.code, res.stderr)
	}
	old, err := os.ReadFile(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		run  func() error
	}{
		{"bad organisation number flag", cmdErr(ctx, w.flags("--org", "314250053"))},
		{"bad system user flag", cmdErr(ctx, w.flags("--system-user", "name=x scopes="))},
		{"caller with unknown system user", cmdErr(ctx, w.flags("--caller", "id=other os-user="+currentUser()+" system-users=nobody"))},
		{"system id of another organisation", cmdErr(ctx, w.flags("--system-id", "999999999_x"))},
		{"a service systemd cannot run (state outside /var/lib)", cmdErr(ctx, w.flags("--no-service=false"))},
		{"input ends half way", func() error {
			wz := interactiveWizard(t, []string{"--config", w.cfgPath}, strings.NewReader("314250052\nclient-2\n"), io.Discard)
			_, err := wz.gather(ctx)
			return err
		}},
		{"Ctrl-C half way", func() error {
			r, pw := io.Pipe()
			defer pw.Close()
			wz := interactiveWizard(t, []string{"--config", w.cfgPath}, r, io.Discard)
			cctx, stop := context.WithCancel(ctx)
			go func() { _, _ = pw.Write([]byte("314250052\n")); stop() }()
			_, err := wz.gather(cctx)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err == nil {
				t.Fatal("no error")
			}
			now, err := os.ReadFile(w.cfgPath)
			if err != nil || !bytes.Equal(now, old) {
				t.Fatalf("the config changed (%v):\n%s", err, now)
			}
			if cfg, err := config.Load(w.cfgPath); err != nil || cfg.Organization != testOrg {
				t.Fatalf("the old config no longer loads: %v", err)
			}
		})
	}
}

// cmdErr runs `agent setup` and returns an error unless it exited 0.
func cmdErr(ctx context.Context, args []string) func() error {
	return func() error {
		if res := runCmd(ctx, args, nil); res.code != exitOK {
			return usageError{res.stderr}
		}
		return nil
	}
}

// TestWizardDefaultsFromConfig: the config file's values are the defaults (Enter keeps them); a caller
// that no longer fits changed system users is left out with a note instead of failing at the end.
func TestWizardDefaultsFromConfig(t *testing.T) {
	cfgPath := clientsConfig(t)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Clients = []config.Client{{ID: "pay", SecretSHA256: strings.Repeat("a", 64), SystemUsers: []string{"payroll"}, Scopes: []string{"a:three"}},
		{ID: "keep", SecretSHA256: strings.Repeat("b", 64), SystemUsers: []string{"default"}, Scopes: []string{"a:one"}}}
	if err := config.Save(cfgPath, cfg); err != nil {
		t.Fatal(err)
	}
	input := strings.Join([]string{
		"", "", "", "", "", "", "", "", "", "", "", // org … access packages: all kept
		"no", "", "", "a:one", "", // replace the system users: only default, scope a:one
		"", "", "", "", "", // key backend, name, directory, generate, listen
		"no", // no further caller
	}, "\n") + "\n"
	var errOut testlog.Buffer
	w := interactiveWizard(t, []string{"--config", cfgPath, "--no-service"}, strings.NewReader(input), &errOut)
	p, err := w.gather(context.Background())
	if err != nil {
		t.Fatalf("gather: %v\n%s", err, errOut.String())
	}
	c := p.cfg
	if c.Organization != testOrg || c.System.ID != testOrg+"_x" || c.Maskinporten.ClientID != "client-1" || c.Environment != config.EnvSandbox ||
		len(c.SystemUsers) != 1 || c.SystemUsers[0].Name != "default" {
		t.Errorf("config %+v", c)
	}
	if len(c.Clients) != 1 || c.Clients[0].ID != "keep" || c.Clients[0].SecretSHA256 != strings.Repeat("b", 64) || len(p.secrets) != 0 {
		t.Errorf("callers %+v (new secrets %d): want keep, with its digest", c.Clients, len(p.secrets))
	}
	if !strings.Contains(errOut.String(), "Caller pay no longer fits the system users") {
		t.Errorf("no note about the dropped caller:\n%s", errOut.String())
	}
}
