package packaging

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/installer"
)

var update = flag.Bool("update", false, "rewrite systemuser-agent.service from installer.RenderSystemdUnit")

// packagedUnitHeader replaces the renderer's first line: the packaged unit is not written by
// "agent service install" (which writes an override of it in /etc/systemd/system).
const packagedUnitHeader = `# Shipped by the systemuser-agent package (rendered by installer.RenderSystemdUnit for the package's
# paths). "systemuser-agent service install" writes its own copy to /etc/systemd/system, which wins.`

// packagedOptions are the package's paths: the binary in /usr/bin, the config in /etc/systemuser-agent,
// the key where "systemuser-agent keys generate --backend systemd-creds" puts it by default.
var packagedOptions = installer.Options{
	Executable: "/usr/bin/systemuser-agent",
	ConfigPath: "/etc/systemuser-agent/config.yaml",
	Credential: &installer.Credential{
		Name: "systemuser-agent-maskinporten",
		Path: "/etc/credstore.encrypted/systemuser-agent-maskinporten.cred",
	},
	ListenPort: 7070,
}

// packagedUnit is the unit the .deb and .rpm ship.
func packagedUnit(t *testing.T) string {
	t.Helper()
	u, err := installer.RenderSystemdUnit(packagedOptions)
	if err != nil {
		t.Fatal(err)
	}
	first, rest, ok := strings.Cut(u, "\n")
	if !ok || !strings.HasPrefix(first, "#") {
		t.Fatalf("the rendered unit does not start with a comment line: %q", first)
	}
	return packagedUnitHeader + "\n" + rest
}

// TestPackagedUnitIsRendered: the committed unit is exactly what the installer renders for the package's
// paths, so the package never ships a unit the installer's tests (hardening, exposure) did not see.
func TestPackagedUnitIsRendered(t *testing.T) {
	want := packagedUnit(t)
	const file = "systemuser-agent.service"
	if *update {
		if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./packaging -run PackagedUnit -update)", err)
	}
	if string(got) != want {
		t.Errorf("packaging/%s is not what installer.RenderSystemdUnit renders; run go test ./packaging -run PackagedUnit -update:\n%s", file, want)
	}
	for _, line := range []string{
		"ExecStart=/usr/bin/systemuser-agent run --config %d/config.yaml --state-dir /var/lib/systemuser-agent",
		"LoadCredential=config.yaml:/etc/systemuser-agent/config.yaml",
		"LoadCredentialEncrypted=systemuser-agent-maskinporten:/etc/credstore.encrypted/systemuser-agent-maskinporten.cred",
		"StartLimitIntervalSec=120", "StartLimitBurst=5", "Restart=on-failure", "DynamicUser=yes",
	} {
		if !strings.Contains("\n"+want+"\n", "\n"+line+"\n") {
			t.Errorf("the packaged unit lacks %q", line)
		}
	}
}
