package main

import (
	"cmp"
	"context"
	"crypto"
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// defaultKeyName is the key name when neither the config nor --name gives one.
const defaultKeyName = "maskinporten"

// cmdKeys is "agent keys": the Maskinporten key in the key store. No private key or password ever
// passes through a flag value, stdout or stderr.
func cmdKeys(ctx context.Context, e *env, args []string) error {
	verb, rest, err := subcommand(args, "generate", "import", "public", "list", "delete", "rotate", "activate", "jwks", "upload")
	if err != nil {
		return err
	}
	kf := &keysFlags{}
	fs := kf.flagSet(e, verb)
	bits := 2048
	var file, passwordFile string
	var passwordStdin, asPEM, yes bool
	switch verb {
	case "generate", "rotate":
		fs.IntVar(&bits, "bits", 2048, "RSA key size: 2048 (what Maskinporten documents), 3072 or 4096")
	case "import":
		fs.StringVar(&file, "file", "", "key file to import (PEM, DER, JWK or PKCS#12), or - for stdin")
		fs.StringVar(&passwordFile, "password-file", "", "file holding the key's password (first line)")
		fs.BoolVar(&passwordStdin, "password-stdin", false, "read the key's password from the first line of stdin")
	case "public":
		fs.BoolVar(&asPEM, "pem", false, "print the public key as PEM instead of a JWK")
	case "delete":
		fs.BoolVar(&yes, "yes", false, "really delete the key (this cannot be undone)")
	case "upload":
		fs.BoolVar(&yes, "uploaded", false, "record that the printed key set was registered by hand (its expiry is tracked from now)")
	}
	if err := parse(fs, rest, false); err != nil {
		return err
	}
	switch {
	case verb == "import" && file == "":
		return usageError{"--file PATH (or --file - for stdin) is required"}
	case verb == "import" && passwordStdin && (file == "-" || passwordFile != ""):
		return usageError{"--password-stdin cannot be combined with --file - or --password-file"}
	case verb == "delete" && !yes:
		return usageError{"deleting a key cannot be undone: add --yes"}
	}
	t, err := kf.open(e)
	if err != nil {
		return err
	}
	defer keystore.Close(t.store)
	switch verb {
	case "generate":
		k, err := t.store.Generate(ctx, t.name, bits)
		if err != nil {
			return fmt.Errorf("generate key %q: %w", t.name, err)
		}
		return t.printKey(e, kf.json, k, "Generated", "")
	case "import":
		return t.importKey(ctx, e, kf.json, file, passwordFile, passwordStdin)
	case "public":
		return setup.WritePublicKey(ctx, e.stdout, t.store, t.name, map[bool]string{true: t.kid}[t.name == t.activeName], kf.json, asPEM)
	case "list":
		return setup.WriteKeyList(ctx, e.stdout, t.store, t.activeName, t.kid, kf.json)
	case "delete":
		if err := t.store.Delete(ctx, t.name); err != nil {
			return err
		}
		if kf.json {
			return printJSON(e.stdout, map[string]string{"deleted": t.name, "backend": t.store.Backend()})
		}
		fmt.Fprintf(e.stdout, "Deleted key %q from the %s key store.\n", t.name, t.store.Backend())
		return nil
	case "rotate":
		return t.rotate(ctx, e, kf.json, bits)
	case "activate":
		return t.activate(ctx, e, kf)
	case "jwks", "upload": // the whole set to register (setup.PublishKeys)
		cfg, err := loadConfig(&kf.common)
		if err != nil {
			return err
		}
		return setup.PublishKeys(ctx, e.stdout, cfg, t.store, stateDirOf(&kf.common), verb == "upload", yes, time.Now())
	}
	return nil
}

// keysFlags are the flags every keys subcommand takes.
type keysFlags struct {
	common
	backend, name, path string
}

func (kf *keysFlags) flagSet(e *env, verb string) *flag.FlagSet {
	fs := newFlags(e, "keys "+verb, &kf.common)
	fs.StringVar(&kf.backend, "backend", "", "key store backend: keyring, systemd-creds, tpm2 (the key is made inside the TPM and never leaves it), file (development only) or memory; replaces the config's maskinporten.key, and the config is not read")
	fs.StringVar(&kf.name, "name", "", "key name (default: the config's maskinporten.key.name, or "+defaultKeyName+")")
	fs.StringVar(&kf.path, "path", "", "with --backend: the file backend's directory, the systemd-creds store directory (default "+keystore.DefaultCredStoreDir+"), or the tpm2 key files' directory (default "+keystore.DefaultTPM2Dir+"; the TPM is /dev/tpmrm0, or key.device in the config)")
	return fs
}

// keyTarget is the store and key name a keys command works on.
type keyTarget struct {
	store keystore.Store
	name  string
	// activeName and kid are the config's key and its registered kid ("" = RFC 7638 thumbprint).
	activeName, kid string
}

// open picks the store: --backend (no config needed) or the config's maskinporten.key.
func (kf *keysFlags) open(e *env) (*keyTarget, error) {
	t := &keyTarget{}
	ref := config.KeyRef{Backend: kf.backend, Path: kf.path}
	credDir := ""
	if kf.backend == "" {
		if kf.path != "" {
			return nil, usageError{"--path needs --backend"}
		}
		cfg, err := loadConfig(&kf.common)
		if err != nil {
			return nil, fmt.Errorf("%w (or name the key store with --backend and --name)", err)
		}
		ref, t.activeName, t.kid = cfg.Maskinporten.Key, cfg.Maskinporten.Key.Name, cfg.Maskinporten.KID
		credDir = os.Getenv("CREDENTIALS_DIRECTORY")
	} else {
		if kf.backend == keystore.BackendFile {
			fmt.Fprintln(e.stderr, "warning: the file backend keeps the private key in plain text on disk: use it for development only")
		}
		if e.getenv != nil {
			credDir = e.getenv("CREDENTIALS_DIRECTORY")
		}
	}
	s, err := setup.OpenKeyStore(ref, false, credDir)
	if err != nil {
		return nil, err
	}
	t.store, t.name = s, cmp.Or(kf.name, t.activeName, defaultKeyName)
	if kf.backend != "" {
		t.activeName = t.name
	}
	return t, nil
}

// info describes key name; the configured kid applies to the active key only, others get their RFC 7638
// thumbprint.
func (t *keyTarget) info(name string, k crypto.Signer) (setup.KeyInfo, error) {
	return setup.DescribeKey(t.store.Backend(), name, k, map[bool]string{true: t.kid}[name == t.activeName])
}

// printKey reports a new key: its public JWK and kid, and advice.
func (t *keyTarget) printKey(e *env, asJSON bool, k crypto.Signer, verb, advice string) error {
	info, err := t.info(t.name, k)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.stdout, struct {
			setup.KeyInfo
			Advice string `json:"advice,omitempty"`
		}{info, advice})
	}
	fmt.Fprintf(e.stdout, "%s an RSA-%d key %q in the %s key store.\nkid: %s\n", verb, info.Bits, t.name, info.Backend, info.KID)
	fmt.Fprintln(e.stdout, "Register this public JWK on the Maskinporten client (Samarbeidsportalen, or the self-service API):")
	if err := printJSON(e.stdout, info.JWK); err != nil {
		return err
	}
	if advice != "" {
		fmt.Fprintln(e.stdout, advice)
	}
	return nil
}

// importKey stores the key of file (setup.ImportKey); on a terminal an encrypted key's password is asked
// for without echo.
func (t *keyTarget) importKey(ctx context.Context, e *env, asJSON bool, file, passwordFile string, passwordStdin bool) error {
	in := setup.KeyInput{File: file, Stdin: e.stdin, PasswordFile: passwordFile, PasswordStdin: passwordStdin,
		Hint: "--password-file PATH or --password-stdin"}
	if fd := terminalFd(e.stdin); fd >= 0 && file != "-" {
		in.Prompt = func(context.Context) ([]byte, error) {
			fmt.Fprintf(e.stderr, "Password for %s: ", file)
			defer fmt.Fprintln(e.stderr)
			return term.ReadPassword(fd)
		}
	}
	key, err := setup.ImportKey(ctx, t.store, t.name, in)
	if err != nil {
		return err
	}
	advice := "The key store now holds the key. Delete the source so the key exists only there: shred -u " + file + " (Linux), or delete it and empty the Recycle Bin (Windows)."
	if file == "-" {
		advice = "The key store now holds the key. Remove any other copy of it (files, clipboard, shell history)."
	}
	return t.printKey(e, asJSON, key, "Imported", advice)
}

func (t *keyTarget) rotate(ctx context.Context, e *env, asJSON bool, bits int) error {
	old, nw, err := setup.RotateKey(ctx, t.store, t.name, map[bool]string{true: t.kid}[t.name == t.activeName], bits)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.stdout, map[string]any{"active": old, "next": nw, "jwks": setup.JWKSet(old, nw)})
	}
	fmt.Fprint(e.stdout, setup.RotateAdvice(t.name, old, nw))
	return nil
}

// activate makes the next key active and reloads the running service (setup.SignalReload).
func (t *keyTarget) activate(ctx context.Context, e *env, kf *keysFlags) error {
	nw, old, err := setup.ActivateKey(ctx, t.store, t.name)
	if err != nil {
		return err
	}
	var rl setup.ReloadOutcome
	var rerr error
	if o, err := serviceOptions(&kf.common, ""); err == nil && t.name == t.activeName {
		rl, rerr = setup.SignalReload(ctx, o)
	}
	if kf.json {
		err = printJSON(e.stdout, map[string]any{"active": nw, "previous": old, "final_jwks": setup.JWKSet(nw), "reload": rl})
	} else {
		fmt.Fprint(e.stdout, setup.ActivateAdvice(t.name, nw, old, rl))
	}
	if rerr != nil {
		return fmt.Errorf("the key is active, but the running service refused the reload and signs with the old key: %w", rerr)
	}
	return err
}
