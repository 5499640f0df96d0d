package keystore

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	keyring "github.com/zalando/go-keyring"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

const secretServiceHowTo = "apt-get install gnome-keyring dbus; run the tests as scripts/test does: dbus-run-session -- sh -c 'echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; go test ./keystore/...'"

// requireSecretService skips (locally) or fails (CI) unless an unlocked Secret Service answers on the
// session bus. It never lets godbus autolaunch a bus of its own.
func requireSecretService(t testing.TB) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return // the keyring is Credential Manager, always there (under wine too)
	}
	ok := os.Getenv("DBUS_SESSION_BUS_ADDRESS") != ""
	if ok {
		_, err := keyring.Get("systemuser-agent-probe", "probe")
		ok = err == nil || errors.Is(err, keyring.ErrNotFound)
		if !ok {
			t.Logf("Secret Service probe: %v", err)
		}
	}
	realdeps.Require(t, ok, "an unlocked Secret Service (gnome-keyring) on the session D-Bus", secretServiceHowTo)
}

// newTestKeyring returns a Keyring under a service name of its own, emptied at the end of the test.
func newTestKeyring(t testing.TB) *Keyring {
	t.Helper()
	requireSecretService(t)
	s, err := Open(Options{Backend: BackendKeyring, Service: "systemuser-agent-test-" + rand.Text()[:10], InService: true})
	if err != nil {
		t.Fatal(err)
	}
	k := s.(*Keyring)
	t.Cleanup(func() {
		if err := keyring.DeleteAll(k.service); err != nil {
			t.Errorf("clean up keyring service %s: %v", k.service, err)
		}
	})
	return k
}

func TestKeyringConformance(t *testing.T) {
	testStore(t, func(t *testing.T) Store { return newTestKeyring(t) })
}

// TestKeyringEntryFormat checks what sits in the OS key store: base64 PKCS#8 DER under the key's name,
// and an index entry listing names (go-keyring cannot enumerate).
func TestKeyringEntryFormat(t *testing.T) {
	s := newTestKeyring(t)
	k := rsaTestKey(t, 2048)
	if err := s.Put(context.Background(), "mp", k); err != nil {
		t.Fatal(err)
	}
	entry, err := keyring.Get(s.service, "mp")
	if err != nil {
		t.Fatal(err)
	}
	want, err := keyringBlob(k)
	if err != nil {
		t.Fatal(err)
	}
	if entry != want {
		t.Fatal("keyring entry is not base64 of the key's PKCS#8 DER")
	}
	index, err := keyring.Get(s.service, indexAccount)
	if err != nil || index != `["mp"]` {
		t.Fatalf("index entry = %q, %v", index, err)
	}
	// An entry removed behind our back: Delete reports ErrNotFound and drops it from the index.
	if err := keyring.Delete(s.service, "mp"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(context.Background(), "mp"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete of a vanished entry: %v", err)
	}
	if names, err := s.List(context.Background()); err != nil || len(names) != 0 {
		t.Fatalf("List after cleanup = %v, %v", names, err)
	}
	// A foreign entry under our service is reported, not parsed as garbage.
	if err := keyring.Set(s.service, "foreign", "not base64 !!"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Signer(context.Background(), "foreign"); err == nil || !strings.Contains(err.Error(), "not a key stored by this agent") {
		t.Fatalf("foreign entry: %v", err)
	}
}
