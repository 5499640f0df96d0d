package keystore

import (
	"runtime"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	fileOnThisOS := "" // the file backend opens...
	if runtime.GOOS == "windows" {
		fileOnThisOS = "not available on Windows" // ...except on Windows, where its Unix modes mean nothing
	}
	cases := []struct {
		opts Options
		want string // "" = success
		kind string // backend on success
	}{
		{Options{Backend: "memory"}, "", "memory"},
		{Options{Backend: "keyring"}, "", "keyring"},
		{Options{Backend: "file", Dir: t.TempDir(), AllowFile: true}, fileOnThisOS, "file"},
		{Options{Backend: "file", Dir: t.TempDir()}, "development only", ""},
		{Options{}, "no key store backend", ""},
		{Options{Backend: "vault"}, "unknown key store backend \"vault\"", ""},
	}
	for _, c := range cases {
		s, err := Open(c.opts)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.opts, err)
		case c.want == "" && s.Backend() != c.kind:
			t.Errorf("%+v: backend %q", c.opts, s.Backend())
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: got %v, want %q", c.opts, err, c.want)
		}
	}
	// Off Windows the CLI writes the OS key store directly: no hand-over.
	if s, _ := Open(Options{Backend: "keyring"}); handoverRequired != isRemote(s) {
		t.Errorf("keyring outside the service: remote=%v, want %v", isRemote(s), handoverRequired)
	}
	if s, _ := Open(Options{Backend: "keyring", InService: true}); isRemote(s) {
		t.Error("keyring inside the service is remote")
	}
}

func isRemote(s Store) bool { _, ok := s.(*Remote); return ok }

func TestCheckName(t *testing.T) {
	good := []string{"maskinporten", "maskinporten-next", "a", "K.2_x-y", strings.Repeat("a", 80)}
	bad := []string{"", "-x", ".x", "_index", "a/b", `a\b`, "a b", "æ", strings.Repeat("a", 81), "a:b"}
	for _, n := range good {
		if err := CheckName(n); err != nil {
			t.Errorf("%q refused: %v", n, err)
		}
	}
	for _, n := range bad {
		if err := CheckName(n); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
}
