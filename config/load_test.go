package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// minimalYAML is a small valid configuration; tests append or replace lines.
const minimalYAML = `organization: "314250052"
maskinporten:
  client_id: client-1
  key: {backend: keyring}
system:
  id: 314250052_sap
  name: {nb: SAP, nn: SAP, en: SAP}
  description: {nb: d, nn: d, en: d}
system_users:
  - name: default
    scopes: [a:one]
`

func TestParseMinimal(t *testing.T) {
	c, err := Parse([]byte(minimalYAML), "c.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Listen != DefaultListen || c.Environment != EnvTest || c.Tokens.MinValidity != DefaultMinValidity {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestUnknownField(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"nested", strings.Replace(minimalYAML, "  client_id: client-1\n", "  client_id: client-1\n  kidd: x\n", 1),
			`c.yaml:4: unknown field "kidd" in maskinporten; valid fields: client_id, key, kid, grant_header, admin, other_keys_file (did you mean kid?)`},
		{"top level", minimalYAML + "listen_addr: 127.0.0.1:1\n",
			`c.yaml:12: unknown field "listen_addr" in the top level; valid fields: environment, endpoints, organization, maskinporten, system, system_users, listen, unix_socket, named_pipe, tokens, clients, log`},
		{"list item", minimalYAML + "    externalReference: payroll\n",
			`c.yaml:12: unknown field "externalReference" in system_users[0]; valid fields: name, external_ref, scopes, rights, access_packages`},
		{"flow mapping", strings.Replace(minimalYAML, "{backend: keyring}", "{backend: keyring, file: /k}", 1),
			`c.yaml:4: unknown field "file" in maskinporten.key; valid fields: backend, name, path, device, thumbprint`},
		{"no tls switch exists", minimalYAML + "endpoints:\n  insecure_skip_verify: true\n",
			`c.yaml:13: unknown field "insecure_skip_verify" in endpoints; valid fields: maskinporten_issuer, maskinporten_token, altinn`},
		{"yaml-ignored Go field", minimalYAML + "path: /x\n", `unknown field "path" in the top level`},
		{"empty key", minimalYAML + "\"\": x\n", `c.yaml:12: unknown field "" in the top level`},
		{"null key", "? \n", `c.yaml:1: unknown field "" in the top level`},
		{"null key in section", "maskinporten:\n  ~: 1\n", `c.yaml:2: unknown field "~" in maskinporten`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), "c.yaml")
			if c != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Line == 0 || de.File != "c.yaml" {
				t.Errorf("want a DecodeError with line, got %#v", de)
			}
		})
	}
}

func TestWrongTypes(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"string got list", strings.Replace(minimalYAML, "client_id: client-1", "client_id: [a, b]", 1), "c.yaml:3: maskinporten.client_id: expected a single value"},
		{"struct got scalar", strings.Replace(minimalYAML, "key: {backend: keyring}", "key: keyring", 1), "c.yaml:4: maskinporten.key: expected a mapping with the fields backend, name, path, device, thumbprint"},
		{"list got scalar", strings.Replace(minimalYAML, "scopes: [a:one]", "scopes: a:one", 1), "c.yaml:11: system_users[0].scopes: expected a list"},
		{"list got mapping", minimalYAML + "clients: {id: sap}\n", "c.yaml:12: clients: expected a list"},
		{"duration without unit", minimalYAML + "tokens:\n  min_validity: 10\n", "c.yaml:13: tokens.min_validity: expected a duration with a unit such as 10s"},
		{"duration words", minimalYAML + "tokens:\n  refresh_ahead: one minute\n", "c.yaml:13: tokens.refresh_ahead: expected a duration"},
		{"duration list", minimalYAML + "tokens:\n  refresh_ahead: [1s]\n", "c.yaml:13: tokens.refresh_ahead: expected a duration"},
		{"top level list", "- a\n- b\n", "c.yaml:1: the top level: expected a mapping"},
		{"top level scalar", "hello\n", "c.yaml:1: the top level: expected a mapping"},
		{"duplicate key", minimalYAML + "organization: \"974760673\"\n", `c.yaml:12: field "organization" in the top level is already set at line 1`},
		{"complex key", minimalYAML + "? [a]\n: b\n", "c.yaml:12: in the top level: a key must be a plain name"},
		{"syntax", minimalYAML + "listen: [\n", "(YAML syntax"},
		{"tab indentation", "organization: \"314250052\"\nmaskinporten:\n\tclient_id: x\n", "c.yaml:3:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), "c.yaml")
			if c != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestEmptyAndMultipleDocuments(t *testing.T) {
	for _, in := range []string{"", "   \n\n", "# just a comment\n", "---\n", "null\n", "~\n", "---\n...\n"} {
		_, err := Parse([]byte(in), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), "c.yaml: the configuration is empty") {
			t.Errorf("Parse(%q) = %v, want the empty-file error", in, err)
		}
	}
	_, err := Parse([]byte(minimalYAML+"---\nlisten: 127.0.0.1:1\n"), "c.yaml")
	if err == nil || !strings.Contains(err.Error(), "c.yaml:12: a second YAML document") {
		t.Errorf("two documents: %v", err)
	}
	_, err = Parse([]byte(minimalYAML+"---\n"), "c.yaml")
	if err == nil || !strings.Contains(err.Error(), "second YAML document") {
		t.Errorf("trailing empty document: %v", err)
	}
	_, err = Parse([]byte(minimalYAML+"---\n[\n"), "c.yaml")
	if err == nil || !strings.Contains(err.Error(), "YAML syntax") {
		t.Errorf("broken second document: %v", err)
	}
}

func TestDurations(t *testing.T) {
	c, err := Parse([]byte(minimalYAML+"tokens:\n  min_validity: 1m30s\n  refresh_ahead: \"2m\"\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Tokens.MinValidity != 90*time.Second || c.Tokens.RefreshAhead != 2*time.Minute {
		t.Errorf("tokens = %+v", c.Tokens)
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	in := minimalYAML + `  - name: second
    external_ref: two
    scopes: *sc
clients:
  - &cl {id: a, secret_sha256: ` + strings.Repeat("a", 64) + `, system_users: [default], scopes: [a:one]}
  - <<: *cl
    id: b
`
	in = strings.Replace(in, "scopes: [a:one]\n", "scopes: &sc [a:one]\n", 1)
	c, err := Parse([]byte(in), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Clients) != 2 || c.Clients[1].ID != "b" || c.Clients[1].SecretSHA256 != c.Clients[0].SecretSHA256 || c.SystemUsers[1].Scopes[0] != "a:one" {
		t.Errorf("anchors not applied: %+v", c)
	}
	bad := strings.Replace(in, "system_users: [default]", "system_users: [default], extra: 1", 1)
	if _, err := Parse([]byte(bad), "c.yaml"); err == nil || !strings.Contains(err.Error(), `unknown field "extra" in clients[0]`) {
		t.Errorf("unknown field behind an anchor: %v", err)
	}
}

// TestAliasBomb: a merge-key chain that would expand to 10^12 nodes is refused, not expanded.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("clients:\n  - &m0 {id: a}\n")
	for i := 1; i <= 12; i++ {
		prev := fmt.Sprintf("*m%d", i-1)
		fmt.Fprintf(&b, "  - &m%d {<<: [%s]}\n", i, strings.TrimSuffix(strings.Repeat(prev+", ", 10), ", "))
	}
	_, err := Parse([]byte(b.String()), "c.yaml")
	if err == nil || !strings.Contains(err.Error(), "aliasing") {
		t.Fatalf("alias bomb: %v", err)
	}
}

func TestValidationErrorsCarryLines(t *testing.T) {
	in := strings.Replace(minimalYAML, "id: 314250052_sap", "id: 974760673_sap", 1) + "listen: 0.0.0.0:7070\n"
	c, err := Parse([]byte(in), "c.yaml")
	errs := mustErrors(t, err)
	if c == nil {
		t.Fatal("validation failure must still return the decoded config")
	}
	want := map[string]int{"system.id": 6, "listen": 12}
	for _, fe := range errs {
		if l, ok := want[fe.Path]; ok && (fe.Line != l || fe.File != "c.yaml") {
			t.Errorf("%s at %s:%d, want line %d", fe.Path, fe.File, fe.Line, l)
		}
		delete(want, fe.Path)
	}
	if len(want) > 0 {
		t.Errorf("missing problems %v in %v", want, errs)
	}
	if !strings.Contains(err.Error(), "c.yaml:12: listen:") {
		t.Errorf("message lacks file:line: %v", err)
	}
	// A field that is missing altogether points at its section.
	_, err = Parse([]byte(strings.Replace(minimalYAML, "  client_id: client-1\n", "", 1)), "c.yaml")
	errs = mustErrors(t, err)
	if len(errs) != 1 || errs[0].Path != "maskinporten.client_id" || errs[0].Line != 2 || errs[0].File != "c.yaml" {
		t.Errorf("missing field should point at its section (line 2): %+v", errs)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.yaml")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "--config") {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(p, []byte(minimalYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil || c.Path != p {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	big := minimalYAML + "# " + strings.Repeat("x", maxFileSize) + "\n"
	if err := os.WriteFile(p, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge file: %v", err)
	}
}

// TestReadErrorPointsTheRightWay: a missing config points at setup, an unreadable one at root or
// administrator (it exists; setup would not help).
func TestReadErrorPointsTheRightWay(t *testing.T) {
	p := "/etc/systemuser-agent/config.yaml"
	missing := readError(p, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist})
	if !strings.Contains(missing.Error(), "agent setup") || !errors.Is(missing, fs.ErrNotExist) {
		t.Errorf("missing: %v", missing)
	}
	denied := readError(p, &fs.PathError{Op: "open", Path: p, Err: syscall.EACCES})
	if strings.Contains(denied.Error(), "agent setup") || !strings.Contains(denied.Error(), asAdmin) ||
		!errors.Is(denied, fs.ErrPermission) {
		t.Errorf("permission denied: %v", denied)
	}
}
