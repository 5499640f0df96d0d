package keystore

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"

	keyring "github.com/zalando/go-keyring"
)

// DefaultService is the keyring service name entries are filed under.
const DefaultService = "systemuser-agent"

// indexAccount is the keyring entry listing the key names: go-keyring cannot enumerate. Key names start
// with a letter or digit (CheckName), so it never collides with a key.
const indexAccount = "_index"

// WindowsBlobLimit is the largest secret Windows Credential Manager stores (CRED_MAX_CREDENTIAL_BLOB_SIZE,
// 5*512 bytes); go-keyring refuses more with ErrSetDataTooBig, wincred with error 1783.
const WindowsBlobLimit = 2560

// darwinCommandLimit is the longest "security -i" command go-keyring sends on macOS.
const darwinCommandLimit = 4096

// Keyring stores keys in the OS key store through go-keyring: Windows Credential Manager, macOS Keychain,
// the Linux Secret Service (GNOME Keyring, KWallet). Each key is one entry (service = Options.Service,
// account = key name) holding its PKCS#8 DER in base64; an index entry lists the names.
//
// On Windows only the running service should use it directly: the vault belongs to the account, so the
// CLI goes through the service's hand-over pipe (doc.go).
type Keyring struct {
	service string
	goos    string
	mu      sync.Mutex // orders index updates within this process
}

func newKeyring(service string) *Keyring {
	if service == "" {
		service = DefaultService
	}
	return &Keyring{service: service, goos: runtime.GOOS}
}

// Backend implements Store.
func (k *Keyring) Backend() string { return "keyring" }

// Generate implements Store.
func (k *Keyring) Generate(ctx context.Context, name string, bits int) (crypto.Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	key, err := generateRSA(bits)
	if err != nil {
		return nil, err
	}
	if err := k.Put(ctx, name, key); err != nil {
		return nil, err
	}
	return key, nil
}

// Put implements Store. It refuses keys whose encoding exceeds the platform's entry limit (ErrTooBig).
func (k *Keyring) Put(_ context.Context, name string, key crypto.Signer) error {
	if err := CheckName(name); err != nil {
		return err
	}
	blob, err := keyringBlob(key)
	if err != nil {
		return err
	}
	if err := keyringFits(k.goos, k.service, name, len(blob), keyKind(key)); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := keyring.Get(k.service, name); err == nil {
		return fmt.Errorf("keystore keyring: %q: %w", name, ErrExists)
	} else if !errors.Is(err, keyring.ErrNotFound) {
		return k.wrap("read", name, err)
	}
	if err := keyring.Set(k.service, name, blob); err != nil {
		return k.wrap("write", name, err)
	}
	return k.updateIndex(func(names []string) []string { return append(names, name) })
}

// keyringBlob is the entry text for key: base64 of its PKCS#8 DER (a Go string: cannot be wiped).
func keyringBlob(key crypto.Signer) (string, error) {
	der, err := marshalDER(key)
	if err != nil {
		return "", err
	}
	defer Wipe(der)
	return base64.StdEncoding.EncodeToString(der), nil
}

// Signer implements Store.
func (k *Keyring) Signer(_ context.Context, name string) (crypto.Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	blob, err := keyring.Get(k.service, name)
	if err != nil {
		return nil, k.wrap("read", name, err)
	}
	der, err := base64.StdEncoding.DecodeString(blob)
	if err != nil {
		return nil, fmt.Errorf("keystore keyring: entry %q of service %q is not a key stored by this agent: delete it (agent keys delete) and import or generate again", name, k.service)
	}
	defer Wipe(der)
	return parseStoredDER(der)
}

// Delete implements Store. A name listed in the index but gone from the keyring is dropped from the index
// and reported as ErrNotFound.
func (k *Keyring) Delete(_ context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	delErr := keyring.Delete(k.service, name)
	if delErr != nil && !errors.Is(delErr, keyring.ErrNotFound) {
		return k.wrap("delete", name, delErr)
	}
	if err := k.updateIndex(func(names []string) []string {
		return slices.DeleteFunc(names, func(n string) bool { return n == name })
	}); err != nil {
		return err
	}
	if delErr != nil {
		return k.wrap("delete", name, delErr)
	}
	return nil
}

// List implements Store.
func (k *Keyring) List(context.Context) ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.readIndex()
}

func (k *Keyring) readIndex() ([]string, error) {
	raw, err := keyring.Get(k.service, indexAccount)
	if errors.Is(err, keyring.ErrNotFound) {
		return []string{}, nil
	}
	if err != nil {
		return nil, k.wrap("read", indexAccount, err)
	}
	var names []string
	if err := json.Unmarshal([]byte(raw), &names); err != nil {
		return nil, fmt.Errorf("keystore keyring: the index entry %q of service %q is damaged (%v): delete that entry; keys stay readable by name", indexAccount, k.service, err)
	}
	return names, nil
}

// updateIndex rewrites the index entry; k.mu must be held.
func (k *Keyring) updateIndex(change func([]string) []string) error {
	names, err := k.readIndex()
	if err != nil {
		return err
	}
	names = change(names)
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		if err := keyring.Delete(k.service, indexAccount); err != nil && !errors.Is(err, keyring.ErrNotFound) {
			return k.wrap("update", indexAccount, err)
		}
		return nil
	}
	b, err := json.Marshal(names)
	if err != nil {
		return fmt.Errorf("keystore keyring: encode the index: %w", err)
	}
	if err := keyring.Set(k.service, indexAccount, string(b)); err != nil {
		return k.wrap("update", indexAccount, err)
	}
	return nil
}

func (k *Keyring) wrap(op, name string, err error) error {
	return keyringError(k.goos, op, k.service, name, err)
}

// Windows error codes go-keyring passes through from wincred.
const (
	errNoSuchLogonSession = syscall.Errno(1312) // ERROR_NO_SUCH_LOGON_SESSION: network logon, no vault
	errBadStubData        = syscall.Errno(1783) // RPC_X_BAD_STUB_DATA: blob over 2560 bytes
)

// keyringError turns a go-keyring error into one that names the backend and the fix.
func keyringError(goos, op, service, name string, err error) error {
	where := fmt.Sprintf("keystore keyring: %s %q (service %q)", op, name, service)
	hintName := name
	if name == indexAccount {
		where = fmt.Sprintf("keystore keyring: %s the list of keys (entry %q, service %q)", op, name, service)
		hintName = "maskinporten"
	}
	msg := err.Error()
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return fmt.Errorf("%s: %w", where, ErrNotFound)
	case errors.Is(err, keyring.ErrSetDataTooBig), errors.Is(err, errBadStubData):
		return fmt.Errorf("%s: the OS key store refused the entry as too large: use an RSA-2048 key: %w", where, ErrTooBig)
	case errors.Is(err, errNoSuchLogonSession):
		return fmt.Errorf("%s: this logon session has no Credential Manager vault (SSH/WinRM network logon, error 1312): run from the console or RDP as Administrator; the key is written by the service through its pipe: %w", where, ErrUnavailable)
	case strings.Contains(msg, "org.freedesktop.secrets"), strings.Contains(msg, "ServiceUnknown"),
		strings.Contains(msg, "DBUS_SESSION_BUS_ADDRESS"), strings.Contains(msg, "session bus"),
		strings.Contains(msg, "dbus-launch"), strings.Contains(msg, "X11"):
		return fmt.Errorf("%s: no Secret Service reachable (no session D-Bus, or org.freedesktop.secrets not provided: %v): on a headless Linux server use backend systemd-creds (key: {backend: systemd-creds, name: %s}); on a desktop, log in with GNOME Keyring or KWallet running: %w", where, err, hintName, ErrUnavailable)
	case strings.Contains(msg, "unlock"), strings.Contains(msg, "locked"), strings.Contains(msg, "prompt"),
		strings.Contains(msg, "dismissed"):
		return fmt.Errorf("%s: the keyring is locked (%v): unlock it (log in to the desktop session, or run gnome-keyring-daemon --unlock) and retry: %w", where, err, ErrLocked)
	case strings.Contains(msg, "/collection/login"), strings.Contains(msg, "No such object"),
		strings.Contains(msg, "does not exist"):
		return fmt.Errorf("%s: the Secret Service has no \"login\" keyring (%v): create and unlock one (GNOME: Passwords and Keys, or gnome-keyring-daemon --unlock), or use backend systemd-creds on a server: %w", where, err, ErrUnavailable)
	}
	return fmt.Errorf("%s on %s: %w", where, goos, err)
}

// KeyringFits checks, before anything is written, that key fits one keyring entry named name on this
// system (Windows Credential Manager holds WindowsBlobLimit bytes, so RSA-4096 does not fit): ErrTooBig
// with the limit and the fix otherwise. `agent setup` on Windows checks a key to import with it before it
// saves the config or installs the service. A key with a certificate chain is refused (ErrNoChain):
// check KeyOnly(key) when the chain is to be dropped.
func KeyringFits(key crypto.Signer, name string) error {
	blob, err := keyringBlob(key)
	if err != nil {
		return err
	}
	return keyringFits(runtime.GOOS, DefaultService, name, len(blob), keyKind(key))
}

// keyringFits checks an entry of blobLen bytes against the platform's limit before writing, so the
// operator gets a message naming the limit instead of a raw OS error. kind describes the key ("RSA-4096").
func keyringFits(goos, service, name string, blobLen int, kind string) error {
	limit := keyringBlobLimit(goos, service, name)
	if limit < 0 || blobLen <= limit {
		return nil
	}
	store := "Windows Credential Manager"
	if goos == "darwin" {
		store = "the macOS Keychain (via go-keyring)"
	}
	return fmt.Errorf("keystore keyring: %s encodes to %d bytes, but %s holds at most %d per entry: use RSA-2048 (what Maskinporten documents) or RSA-3072: %w", kind, blobLen, store, limit, ErrTooBig)
}

// keyringBlobLimit is the largest base64 blob the platform's keyring takes for one entry, or -1 for no
// practical limit (Linux Secret Service).
func keyringBlobLimit(goos, service, name string) int {
	switch goos {
	case "windows":
		return WindowsBlobLimit
	case "darwin":
		// go-keyring sends: add-generic-password -U -s 'svc' -a 'name' -w 'go-keyring-base64:<b64(blob)>'\n
		fixed := len("add-generic-password -U -s '' -a '' -w 'go-keyring-base64:'\n") + len(service) + len(name)
		b64 := darwinCommandLimit - fixed
		return b64 / 4 * 3
	}
	return -1
}
