package setup

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// KeyInfo is what is shown of a key: never private material.
type KeyInfo struct {
	Name    string          `json:"name"`
	Backend string          `json:"backend"`
	KID     string          `json:"kid"`
	Bits    int             `json:"bits"`
	JWK     json.RawMessage `json:"jwk"`
	// Error says why a listed key could not be read.
	Error string `json:"error,omitempty"`
}

// DescribeKey describes k, stored as name in a backend store: its kid (kid, or when "" the RFC 7638
// thumbprint), size and public JWK.
func DescribeKey(backend, name string, k crypto.Signer, kid string) (KeyInfo, error) {
	if kid == "" {
		var err error
		if kid, err = keystore.Thumbprint(k.Public()); err != nil {
			return KeyInfo{}, err
		}
	}
	jwk, err := keystore.PublicJWK(k.Public(), kid)
	if err != nil {
		return KeyInfo{}, err
	}
	bits := 0
	if pub, ok := k.Public().(*rsa.PublicKey); ok {
		bits = pub.N.BitLen()
	}
	return KeyInfo{Name: name, Backend: backend, KID: kid, Bits: bits, JWK: jwk}, nil
}

// ListKeys describes every key in ks; kid is the configured kid of the key activeName (the others get
// their thumbprint). A key that cannot be read is listed with its Error.
func ListKeys(ctx context.Context, ks keystore.Store, activeName, kid string) ([]KeyInfo, error) {
	names, err := ks.List(ctx)
	if err != nil {
		return nil, err
	}
	out := []KeyInfo{}
	for _, n := range names {
		k, err := ks.Signer(ctx, n)
		if err != nil {
			out = append(out, KeyInfo{Name: n, Backend: ks.Backend(), Error: err.Error()})
			continue
		}
		info, err := DescribeKey(ks.Backend(), n, k, map[bool]string{true: kid}[n == activeName])
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// JWKSet renders {"keys": [...]} as Maskinporten's jwks endpoint takes it.
func JWKSet(infos ...KeyInfo) map[string][]json.RawMessage {
	set := map[string][]json.RawMessage{"keys": {}}
	for _, i := range infos {
		set["keys"] = append(set["keys"], i.JWK)
	}
	return set
}

// RotateKey starts a rotation of key name (keystore.Rotate) and describes the active key and the next
// one. kid is the configured maskinporten.kid when name is the configured key: then it refuses before
// anything changes, since the configured kid would name the new key too once it is activated (the reload
// keeps the kid it signs with, and after a restart grants would carry the old kid: MP-124).
func RotateKey(ctx context.Context, ks keystore.Store, name, kid string, bits int) (active, next KeyInfo, err error) {
	if kid != "" {
		return KeyInfo{}, KeyInfo{}, fmt.Errorf("not rotating key %q: the config sets maskinporten.kid %q, a kid registered by hand "+
			"for the current key, and a rotated key is registered under its own kid (its RFC 7638 thumbprint). First remove "+
			"maskinporten.kid from the config, register the current key under the kid `agent keys public` then prints "+
			"(`agent keys upload`, which keeps the other keys), reload the service (systemctl reload, or `agent service reload`), "+
			"then rotate", name, kid)
	}
	a, n, err := keystore.Rotate(ctx, ks, name, bits)
	if err != nil {
		return KeyInfo{}, KeyInfo{}, err
	}
	if active, err = DescribeKey(ks.Backend(), name, a, kid); err != nil {
		return KeyInfo{}, KeyInfo{}, err
	}
	next, err = DescribeKey(ks.Backend(), keystore.NextName(name), n, "")
	return active, next, err
}

// ActivateKey makes the next key of name the active one (keystore.Activate) and describes it and the
// previous key, if any. The new key gets its own thumbprint kid: a configured kid belonged to the old key.
func ActivateKey(ctx context.Context, ks keystore.Store, name string) (active KeyInfo, previous *KeyInfo, err error) {
	p, a, err := keystore.Activate(ctx, ks, name)
	if err != nil {
		return KeyInfo{}, nil, err
	}
	if active, err = DescribeKey(ks.Backend(), name, a, ""); err != nil {
		return KeyInfo{}, nil, err
	}
	if p != nil {
		o, err := DescribeKey(ks.Backend(), keystore.PreviousName(name), p, "")
		if err != nil {
			return KeyInfo{}, nil, err
		}
		previous = &o
	}
	return active, previous, nil
}

// RotateAdvice is what `agent keys rotate` tells a person: the JWK set to register and the next steps.
// The upload goes through `agent keys upload` (or `agent keys jwks`), which keeps the other servers' keys.
func RotateAdvice(name string, old, nw KeyInfo) string {
	set, _ := json.MarshalIndent(JWKSet(old, nw), "", "  ")
	return fmt.Sprintf("Rotation of %q started: the new key is %q (kid %s). Tokens are still signed with the current key (kid %s).\n"+
		"1. Register both keys on the Maskinporten client: agent keys upload (with an admin client; else it prints the set to\n"+
		"   upload, with the other servers' keys from maskinporten.other_keys_file). This server's keys alone are:\n%s\n"+
		"2. Wait at least 2 minutes: Maskinporten takes up to 2 minutes to see a key change.\n"+
		"3. Run \"agent keys activate\" to sign with the new key.\n", name, nw.Name, nw.KID, old.KID, set)
}

// ActivateAdvice is what `agent keys activate` tells a person: the running service switches on reload,
// and after 2 more minutes the set without the old key is uploaded.
func ActivateAdvice(name string, nw KeyInfo, old *KeyInfo, rl ReloadOutcome) string {
	return activateAdvice(runtime.GOOS, name, nw, old, rl)
}

// activateAdvice is ActivateAdvice on goos: how an agent outside the service manager takes the new key
// differs (Linux: SIGHUP; Windows: a reload reaches the installed service's hand-over pipe only, so an
// "agent run" in a terminal takes it when started again).
func activateAdvice(goos, name string, nw KeyInfo, old *KeyInfo, rl ReloadOutcome) string {
	s := fmt.Sprintf("%q is now the new key (kid %s); the old one is kept as %q.\n"+
		"This is safe only if the JWK set with both keys was uploaded at least 2 minutes ago (Maskinporten propagation).\n"+
		"If the config sets maskinporten.kid, remove it (it names the old key), then reload again.\n",
		name, nw.KID, keystore.PreviousName(name))
	foreground := "kill -HUP its pid"
	if goos == "windows" {
		foreground = "stop it with Ctrl-C and start it again"
	}
	switch {
	case rl.Sent && rl.KID == nw.KID:
		s += fmt.Sprintf("The running service was reloaded and signs with kid %s now (no restart).\n", rl.KID)
	case rl.Sent:
		why := cmp.Or(rl.Reason, "It kept its key: its log says why (journalctl -u systemuser-agent, or the Event Log on Windows).")
		s += fmt.Sprintf("The running service was reloaded, but signs with kid %q, not %s. %s\n", rl.KID, nw.KID, why)
	default:
		s += fmt.Sprintf("No running service was reloaded (%s). The running service switches with no restart after: %s "+
			"(an \"agent run\" in a terminal: %s).\n", rl.Reason, rl.Command, foreground)
	}
	s += "After more than 2 more minutes, register the set without the old key: agent keys upload (keeps the other servers' keys).\n"
	if old != nil {
		s += fmt.Sprintf("Then delete the old key: agent keys delete --name %s --yes\n", old.Name)
	}
	return s
}
