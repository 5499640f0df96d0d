package realdeps

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSkipIsLogged: a skip outside CI is appended to the skip log as package, test, what, how; a
// satisfied requirement writes nothing.
func TestSkipIsLogged(t *testing.T) {
	log := filepath.Join(t.TempDir(), "skips")
	t.Setenv("CI", "")
	t.Setenv(SkipLogEnv, log)
	t.Run("present", func(t *testing.T) { Require(t, true, "a thing", "apt-get install thing") })
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Fatalf("a met requirement wrote the skip log (%v)", err)
	}
	t.Run("missing", func(t *testing.T) { Require(t, false, "a\tthing", "apt-get install -y thing") })
	t.Run("missing tool", func(t *testing.T) { Tool(t, "no-such-tool-for-realdeps", "apt-get install other") })
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := "internal/realdeps\tTestSkipIsLogged/missing\ta thing\tapt-get install -y thing\n" +
		"internal/realdeps\tTestSkipIsLogged/missing_tool\tno-such-tool-for-realdeps\tapt-get install other\n"
	if string(b) != want {
		t.Errorf("skip log:\n%q\nwant\n%q", b, want)
	}
	if strings.Count(string(b), "\n") != 2 {
		t.Error("want one line per skip")
	}
}
