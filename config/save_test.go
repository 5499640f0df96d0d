package config

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestSaveRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.yaml")
	c := validConfig()
	if err := Save(p, c); err != nil {
		t.Fatal(err)
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, c)
	}
	data, _ := os.ReadFile(p)
	if strings.Contains(string(data), "external_ref: \"\"") || strings.Count(string(data), "external_ref") != 1 {
		t.Errorf("an empty external_ref must be left out:\n%s", data)
	}
	if !strings.HasPrefix(string(data), "# systemuser-agent configuration") {
		t.Errorf("new file lacks its header:\n%s", data)
	}
	if fi, _ := os.Stat(p); runtime.GOOS != "windows" && fi.Mode().Perm() != configPerm {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	onlyFiles(t, dir, "config.yaml")
}

func TestSaveRefusesInvalid(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.yaml")
	if err := Save(p, validConfig()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(p)
	bad := validConfig()
	bad.Listen = "0.0.0.0:7070"
	err := Save(p, bad)
	if err == nil || !strings.Contains(err.Error(), "left unchanged") || !strings.Contains(err.Error(), "listen:") {
		t.Fatalf("Save(invalid) = %v", err)
	}
	after, _ := os.ReadFile(p)
	if string(after) != string(before) {
		t.Error("an invalid config overwrote the file")
	}
	onlyFiles(t, dir, "config.yaml")
	if err := Save(filepath.Join(dir, "new.yaml"), bad); err == nil {
		t.Error("invalid config written to a new file")
	}
	onlyFiles(t, dir, "config.yaml")
}

func TestSaveRefusesCorruptFile(t *testing.T) {
	dir := t.TempDir()
	for _, corrupt := range []string{"organization: [\n", "organisation: x\n", "a: 1\n---\nb: 2\n"} {
		p := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(p, []byte(corrupt), 0o600); err != nil {
			t.Fatal(err)
		}
		err := Save(p, validConfig())
		if err == nil || !strings.Contains(err.Error(), "does not parse") || !strings.Contains(err.Error(), "move it away") {
			t.Fatalf("Save over %q = %v", corrupt, err)
		}
		if got, _ := os.ReadFile(p); string(got) != corrupt {
			t.Errorf("corrupt file was overwritten with %q", got)
		}
		onlyFiles(t, dir, "config.yaml")
	}
}

// TestSaveOverIncompleteFile: a file that parses but does not yet validate (setup in progress) may be
// replaced by a valid configuration, keeping its mode.
func TestSaveOverIncompleteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte("organization: \"314250052\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Save(p, validConfig()); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode changed to %v", fi.Mode().Perm())
	}
}

// TestSaveTightensMode (issue 15 #3): rewriting a config others could read or write leaves it 0600;
// a read-only 0400 stays 0400.
func TestSaveTightensMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix modes; Windows protects the config with its directory's DACL")
	}
	for _, tc := range []struct{ old, want os.FileMode }{{0o666, 0o600}, {0o644, 0o600}, {0o640, 0o600},
		{0o600, 0o600}, {0o400, 0o400}} {
		p := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(p, []byte("organization: \"314250052\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, tc.old); err != nil {
			t.Fatal(err)
		}
		if err := Save(p, validConfig()); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != tc.want {
			t.Errorf("saved over a %04o file: mode %04o, want %04o", tc.old, fi.Mode().Perm(), tc.want)
		}
	}
}

// TestSaveKeepsComments: rewriting the example after a change keeps its documentation.
func TestSaveKeepsComments(t *testing.T) {
	example, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, example, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	c.Clients = append(c.Clients, Client{ID: "new", SecretSHA256: strings.Repeat("1", 64), SystemUsers: []string{"default"}, Scopes: []string{"altinn:instances.read"}})
	c.Listen = "127.0.0.1:7171"
	if err := Save(p, c); err != nil {
		t.Fatal(err)
	}
	saved, _ := os.ReadFile(p)
	for _, line := range strings.Split(string(example), "\n") {
		if i := strings.Index(line, "# "); i >= 0 && strings.TrimSpace(line[:i]) == "" {
			if !strings.Contains(string(saved), strings.TrimSpace(line)) {
				t.Errorf("comment lost: %s", line)
			}
		}
	}
	got, err := Load(p)
	if err != nil || got.Listen != "127.0.0.1:7171" || len(got.Clients) != 3 {
		t.Fatalf("saved file: %+v, %v", got, err)
	}
}

// TestSaveEmptyLists: empty (non-nil) lists are saved and read back like absent ones.
func TestSaveEmptyLists(t *testing.T) {
	c := validConfig()
	c.System.AccessPackages = []string{}
	c.SystemUsers[1].AccessPackages = []string{}
	c.SystemUsers[0].Rights = []Right{}
	c.Clients = []Client{}
	if err := Save(filepath.Join(t.TempDir(), "c.yaml"), c); err != nil {
		t.Fatal(err)
	}
}
