package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	jose "github.com/go-jose/go-jose/v4"
)

// OnboardingScopes are the scopes an organisation's Maskinporten client needs to onboard itself:
// register its system and send and read its system user requests.
var OnboardingScopes = []string{"altinn:authentication/systemregister.write",
	"altinn:authentication/systemuser.request.write", "altinn:authentication/systemuser.request.read"}

// SeededSystemName is the name part of the system SeedOnboarded registers: "<org>_sandbox".
const SeededSystemName = "sandbox"

// RegisterClientJWK registers Maskinporten client id of org with the public JWK (as `agent keys public`
// prints it) in the file at path, or read from stdin when path is "-"; the client may ask for scopes
// and OnboardingScopes.
func (s *Sandbox) RegisterClientJWK(id, org, path string, stdin io.Reader, scopes ...string) error {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("open the public JWK: %w", err)
		}
		defer f.Close()
		r = f
	}
	var k jose.JSONWebKey
	if err := json.NewDecoder(io.LimitReader(r, 64<<10)).Decode(&k); err != nil {
		return fmt.Errorf("read the public JWK: %w", err)
	}
	if !k.IsPublic() || k.KeyID == "" {
		return fmt.Errorf("the JWK must be a public key with a kid (agent keys public prints one)")
	}
	_, err := s.RegisterClientKey(id, org, ClientKey{KID: k.KeyID, Public: k.Key}, scopes)
	return err
}

// SeedOnboarded registers the system "<org>_sandbox" for clientID and an accepted system user of org,
// so an agent gets system-user tokens without onboarding. It returns both ids.
func (s *Sandbox) SeedOnboarded(org, clientID string) (systemID, systemUserID string, err error) {
	systemID = org + "_" + SeededSystemName
	if err := s.SeedSystem(SystemSeed{ID: systemID, ClientIDs: []string{clientID}, Rights: []string{ResourceExample}}); err != nil {
		return "", "", fmt.Errorf("seed the system %s: %w", systemID, err)
	}
	systemUserID, err = s.SeedSystemUser(systemID, org, "")
	if err != nil {
		return "", "", fmt.Errorf("seed a system user of %s for %s: %w", org, systemID, err)
	}
	return systemID, systemUserID, nil
}
