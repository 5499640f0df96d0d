package packaging

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// maxBinaryBytes is the size budget of every release binary.
const maxBinaryBytes = 20 << 20

// distDir is the dist/ directory scripts/release built, named by RELEASE_DIST (scripts/systemd-lane sets
// it, with RELEASE_VERSION); without it these tests skip, since they check artefacts, not code.
func distDir(t *testing.T) (dir, version string) {
	t.Helper()
	dir, version = os.Getenv("RELEASE_DIST"), os.Getenv("RELEASE_VERSION")
	if dir == "" {
		t.Skip("RELEASE_DIST is not set: scripts/systemd-lane runs these tests on the dist/ of scripts/release")
	}
	if version == "" {
		t.Fatal("RELEASE_DIST is set but RELEASE_VERSION is not: set both (scripts/systemd-lane does)")
	}
	return dir, version
}

func artefact(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("artefact missing: %v", err)
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestReleaseBinaries: four static binaries under 20 MiB; the host's one reports the stamped version,
// a commit and a date, in text and JSON.
func TestReleaseBinaries(t *testing.T) {
	dir, version := distDir(t)
	for _, target := range []string{"linux-amd64", "linux-arm64", "darwin-arm64", "windows-amd64.exe"} {
		p := artefact(t, dir, "systemuser-agent-"+version+"-"+target)
		fi, _ := os.Stat(p)
		if fi.Size() >= maxBinaryBytes {
			t.Errorf("%s is %d bytes, over the 20 MiB budget", p, fi.Size())
		}
		t.Logf("%s: %d bytes", filepath.Base(p), fi.Size())
		if strings.HasPrefix(target, "linux") {
			f, err := elf.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, prog := range f.Progs {
				if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
					t.Errorf("%s is dynamically linked (program header %v); build with CGO_ENABLED=0", p, prog.Type)
				}
			}
			f.Close()
		}
	}
	host := artefact(t, dir, "systemuser-agent-"+version+"-"+runtime.GOOS+"-"+runtime.GOARCH)
	var v struct{ Version, Commit, Date, OS, Arch string }
	if err := json.Unmarshal([]byte(run(t, host, "version", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Version != version || len(v.Commit) < 40 || !strings.HasPrefix(v.Date, "20") || v.OS != runtime.GOOS {
		t.Errorf("version --json = %+v; want version %s, a full commit id and an RFC 3339 date", v, version)
	}
	text := run(t, host, "version")
	if !strings.Contains(text, version) || !strings.Contains(text, v.Commit) || !strings.Contains(text, v.Date) {
		t.Errorf("version = %q; want the version, commit and date", text)
	}
}

// TestDeb: dpkg-deb --info and --contents show the package's parts; lintian reports no error or warning
// (the one override, statically-linked-binary, is justified in docs/packaging.md).
func TestDeb(t *testing.T) {
	dir, version := distDir(t)
	deb := artefact(t, dir, "systemuser-agent_"+version+"_amd64.deb")
	info := run(t, realdeps.Tool(t, "dpkg-deb", "apt-get install dpkg"), "--info", deb)
	for _, want := range []string{"Package: systemuser-agent", "Version: " + version, "Architecture: amd64", " postinst ", " prerm ", " postrm "} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	contents := run(t, "dpkg-deb", "--contents", deb)
	for _, want := range []string{
		"-rwxr-xr-x root/root .* ./usr/bin/systemuser-agent",
		"-rw-r--r-- root/root .* ./usr/lib/systemd/system/systemuser-agent.service",
		"./usr/share/doc/systemuser-agent/examples/config.example.yaml",
		"./usr/share/man/man1/systemuser-agent.1.gz",
		"./usr/share/doc/systemuser-agent/copyright",
		"./usr/share/doc/systemuser-agent/changelog.gz",
	} {
		if !containsLine(contents, want) {
			t.Errorf("dpkg-deb --contents lacks %q:\n%s", want, contents)
		}
	}
	if strings.Contains(contents, "./etc/") {
		t.Errorf("the package ships files in /etc (the config is the admin's, written by setup):\n%s", contents)
	}
	lint := realdeps.Tool(t, "lintian", "apt-get install lintian")
	out, _ := exec.Command(lint, "--tag-display-limit", "0", deb).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") {
			t.Errorf("lintian: %s", l)
		}
	}
}

// containsLine matches pattern (".*" is the only wildcard) against each line.
func containsLine(text, pattern string) bool {
	parts := strings.Split(pattern, ".*")
	for _, l := range strings.Split(text, "\n") {
		rest, ok := l, true
		for _, p := range parts {
			i := strings.Index(rest, p)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(p):]
		}
		if ok {
			return true
		}
	}
	return false
}

// msiTable is one table exported by msiinfo: its rows as tab-separated fields, the three header lines
// (column names, types, table name and keys) dropped.
func msiTable(t *testing.T, msiinfo, msi, table string) [][]string {
	t.Helper()
	var rows [][]string
	for i, l := range strings.Split(strings.TrimRight(run(t, msiinfo, "export", msi, table), "\r\n"), "\n") {
		if i >= 3 {
			rows = append(rows, strings.Split(strings.TrimRight(l, "\r"), "\t"))
		}
	}
	return rows
}

// TestMSI: the MSI's File table holds the exe (of the release's size), the example config and the
// README, all in INSTALLDIR under ProgramFiles64Folder; the service can be registered (SERVICE=1 runs
// "service install" as a deferred, elevated action) and is stopped around upgrades.
func TestMSI(t *testing.T) {
	dir, version := distDir(t)
	msi := artefact(t, dir, "systemuser-agent-"+version+"-x64.msi")
	msiinfo := realdeps.Tool(t, "msiinfo", "apt-get install msitools")
	exe, _ := os.Stat(artefact(t, dir, "systemuser-agent-"+version+"-windows-amd64.exe"))
	files := map[string][]string{}
	for _, r := range msiTable(t, msiinfo, msi, "File") {
		files[r[2]] = r
	}
	for name, size := range map[string]int64{"systemuser-agent.exe": exe.Size(), "config.example.yaml": -1, "README.md": -1} {
		r, ok := files[name]
		if !ok {
			t.Errorf("the File table lacks %s: %v", name, files)
			continue
		}
		if size >= 0 && r[3] != itoa(size) {
			t.Errorf("%s in the MSI is %s bytes, the release exe %d", name, r[3], size)
		}
	}
	dirs := map[string][]string{}
	for _, r := range msiTable(t, msiinfo, msi, "Directory") {
		dirs[r[0]] = r
	}
	if d := dirs["INSTALLDIR"]; len(d) < 3 || d[1] != "ProgramFiles64Folder" || d[2] != "systemuser-agent" {
		t.Errorf("INSTALLDIR is %v; want systemuser-agent under ProgramFiles64Folder", d)
	}
	for _, r := range msiTable(t, msiinfo, msi, "Component") {
		if r[2] != "INSTALLDIR" {
			t.Errorf("component %s installs into %s, not INSTALLDIR", r[0], r[2])
		}
	}
	actions := map[string]string{}
	for _, r := range msiTable(t, msiinfo, msi, "CustomAction") {
		actions[r[0]] = r[3]
	}
	if actions["RegisterService"] != "service install" || actions["UnregisterService"] != "service uninstall" {
		t.Errorf("custom actions %v; want RegisterService = service install, UnregisterService = service uninstall", actions)
	}
	seq := map[string]string{}
	for _, r := range msiTable(t, msiinfo, msi, "InstallExecuteSequence") {
		seq[r[0]] = r[1]
	}
	if c := seq["RegisterService"]; !strings.Contains(c, `SERVICE="1"`) {
		t.Errorf("RegisterService runs on condition %q; want it only with SERVICE=1", c)
	}
	if ctl := msiTable(t, msiinfo, msi, "ServiceControl"); len(ctl) != 1 || ctl[0][1] != "systemuser-agent" {
		t.Errorf("ServiceControl %v; want the service systemuser-agent stopped around install and uninstall", ctl)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestChecksumsAndSBOMs: SHA256SUMS lists every other file of dist/ with its right digest, and every
// artefact has a CycloneDX SBOM naming the agent's own dependencies.
func TestChecksumsAndSBOMs(t *testing.T) {
	dir, _ := distDir(t)
	f, err := os.Open(artefact(t, dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not \"<sum>  <name>\"", sc.Text())
		}
		listed[name] = sum
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if name == "SHA256SUMS" {
			continue
		}
		if listed[name] != sha256File(t, filepath.Join(dir, name)) {
			t.Errorf("SHA256SUMS has %q for %s, not its digest", listed[name], name)
		}
		if strings.HasSuffix(name, ".cdx.json") {
			continue
		}
		var bom struct {
			BOMFormat  string `json:"bomFormat"`
			Components []struct {
				Name string `json:"name"`
			} `json:"components"`
		}
		data, err := os.ReadFile(filepath.Join(dir, name+".cdx.json"))
		if err != nil {
			t.Errorf("no SBOM for %s: %v", name, err)
			continue
		}
		if err := json.Unmarshal(data, &bom); err != nil || bom.BOMFormat != "CycloneDX" {
			t.Errorf("%s.cdx.json is not a CycloneDX document: %v", name, err)
			continue
		}
		found := false
		for _, c := range bom.Components {
			found = found || strings.Contains(c.Name, "go-jose")
		}
		if !found {
			t.Errorf("the SBOM of %s does not list go-jose, which every build links", name)
		}
	}
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
