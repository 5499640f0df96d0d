package setup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// TestPasswordLine holds the one password-file rule of every key import (`agent keys import
// --password-file`, `agent setup --key-password-file`, --password-stdin): the first line, without its
// line ending; the rest of the file is ignored.
func TestPasswordLine(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"bare", "s3cret", "s3cret"},
		{"newline", "s3cret\n", "s3cret"},
		{"crlf", "s3cret\r\n", "s3cret"},
		{"second line ignored", "s3cret\nnot this\n", "s3cret"},
		{"trailing spaces kept", "s3cret  \n", "s3cret  "},
		{"empty", "", ""},
		{"empty first line", "\nnot this", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(PasswordLine([]byte(tc.in))); got != tc.want {
				t.Errorf("PasswordLine(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestReadPasswordFileAndStdin: the file and stdin follow the same rule; a file that is too large is
// refused.
func TestReadPasswordFileAndStdin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte("s3cret\r\nrest"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, read := range map[string]func() ([]byte, error){
		"file":  func() ([]byte, error) { return ReadPassword(path, nil) },
		"stdin": func() ([]byte, error) { return ReadPassword("-", strings.NewReader("s3cret\r\nrest")) },
	} {
		if pw, err := read(); err != nil || string(pw) != "s3cret" {
			t.Errorf("%s: %q, %v; want s3cret", name, pw, err)
		}
	}
	big := strings.NewReader(strings.Repeat("x", maxPasswordFile+1))
	if _, err := ReadPassword("-", big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("an oversized password input: %v, want a size error", err)
	}
}

// TestSignerMissingKeyGivesTheFix: run and token with no key in the store say how to get one, as doctor
// does, and keep keystore.ErrNotFound for callers that test for it.
func TestSignerMissingKeyGivesTheFix(t *testing.T) {
	cfg := &config.Config{Maskinporten: config.Maskinporten{Key: config.KeyRef{Backend: "memory", Name: "maskinporten"}}}
	_, _, err := Signer(context.Background(), cfg, keystore.NewMemory())
	if !errors.Is(err, keystore.ErrNotFound) || !strings.Contains(err.Error(), "agent keys generate") || !strings.Contains(err.Error(), "agent keys import") {
		t.Fatalf("missing key: %v", err)
	}
}

// TestRotateRefusesConfiguredKID: with maskinporten.kid set for the key, rotation is refused before
// anything changes (no next key is made), naming the field and the way out; without it, it rotates.
func TestRotateRefusesConfiguredKID(t *testing.T) {
	ctx := context.Background()
	ks := keystore.NewMemory()
	if _, err := ks.Generate(ctx, "maskinporten", 2048); err != nil {
		t.Fatal(err)
	}
	_, _, err := RotateKey(ctx, ks, "maskinporten", "registered-by-hand", 2048)
	if err == nil || !strings.Contains(err.Error(), "maskinporten.kid") || !strings.Contains(err.Error(), "registered-by-hand") {
		t.Fatalf("rotate with a configured kid: %v", err)
	}
	if names, _ := ks.List(ctx); len(names) != 1 {
		t.Fatalf("a refused rotation left keys %v", names)
	}
	if _, next, err := RotateKey(ctx, ks, "maskinporten", "", 2048); err != nil || next.KID == "" {
		t.Fatalf("rotate without a configured kid: %+v, %v", next, err)
	}
}
