package setup_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// TestNewSetupMissingKey: a Setup wired by setup.New for a key store without the configured key stops at
// the key step with ErrNotFound and says how to make the key.
func TestNewSetupMissingKey(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	s, err := setup.New(e.cfg, t.TempDir(), keystore.NewMemory(), e.newSetup(nil).Tokens, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Run(context.Background(), setup.Options{})
	if !errors.Is(err, keystore.ErrNotFound) || !strings.Contains(err.Error(), "agent keys generate") {
		t.Errorf("error %v", err)
	}
}
