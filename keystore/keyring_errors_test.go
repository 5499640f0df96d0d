package keystore

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dbus "github.com/godbus/dbus/v5"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// childEnv makes the test binary run keyringChild (see TestMain) expecting the named failure.
const childEnv = "SUAK_KEYRING_CHILD_EXPECT"

// sessionBusWithoutServices is a session bus config with no service directories: a server with D-Bus but
// no Secret Service, as on a headless Linux box.
const sessionBusWithoutServices = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy>
</busconfig>`

// TestKeyringFailureMessages runs the real keyring backend in child processes under broken setups and
// checks each error names the backend, the cause and the fix.
func TestKeyringFailureMessages(t *testing.T) {
	runSession := realdeps.Tool(t, "dbus-run-session", "apt-get install dbus")
	gkd := realdeps.Tool(t, "gnome-keyring-daemon", "apt-get install gnome-keyring")
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(sessionBusWithoutServices), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyPath := filepath.Join(dir, "empty-path")
	if err := os.Mkdir(emptyPath, 0o700); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := []string{self}
	cases := []struct {
		name   string
		expect string
		argv   []string
		env    []string
	}{
		{"no session bus", "unavailable", child, []string{"PATH=" + emptyPath}},
		{"no Secret Service", "unavailable", append([]string{runSession, "--config-file=" + conf, "--"}, child...), nil},
		{"locked keyring", "locked", append([]string{runSession, "--", "sh", "-c",
			"echo -n pw | " + gkd + " --unlock --components=secrets >/dev/null && exec \"$@\"", "sh"}, child...), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir() // a fresh login keyring, never the developer's
			// A bound, not a timing assertion: a hung D-Bus call must not stall the suite.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
			cmd.WaitDelay = 5 * time.Second
			cmd.Env = append([]string{
				childEnv + "=" + c.expect, "HOME=" + home, "XDG_DATA_HOME=" + home, "XDG_RUNTIME_DIR=" + home,
				"PATH=" + os.Getenv("PATH"),
			}, c.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child failed (%v):\n%s", err, out)
			}
			t.Logf("%s", out)
		})
	}
}

// TestMain runs the child half of TestKeyringFailureMessages when asked to, instead of the tests.
func TestMain(m *testing.M) {
	if expect := os.Getenv(childEnv); expect != "" {
		os.Exit(keyringChild(expect))
	}
	os.Exit(m.Run())
}

// keyringChild tries every keyring operation and checks each error matches expect; 0 means it did.
func keyringChild(expect string) int {
	if expect == "locked" {
		if err := lockLoginCollection(); err != nil {
			fmt.Println("child: lock the login collection:", err)
			return 1
		}
	}
	s, err := Open(Options{Backend: BackendKeyring, InService: true, Service: "systemuser-agent-child"})
	if err != nil {
		fmt.Println("child:", err)
		return 1
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		fmt.Println("child:", err)
		return 1
	}
	ctx := context.Background()
	errs := map[string]error{"Put": s.Put(ctx, "maskinporten", key)}
	_, errs["Signer"] = s.Signer(ctx, "maskinporten")
	_, errs["List"] = s.List(ctx)
	errs["Delete"] = s.Delete(ctx, "maskinporten")
	code := 0
	for op, err := range errs {
		fmt.Printf("child: %s: %v\n", op, err)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		ok := strings.Contains(msg, "keyring")
		switch expect {
		case "unavailable":
			ok = ok && errors.Is(err, ErrUnavailable) && strings.Contains(msg, "systemd-creds") && strings.Contains(msg, "org.freedesktop.secrets")
		case "locked":
			ok = ok && errors.Is(err, ErrLocked) && strings.Contains(msg, "unlock")
		default:
			ok = false
		}
		if !ok {
			fmt.Printf("child: FAIL: %s: want a %s error naming the keyring backend and the fix\n", op, expect)
			code = 1
		}
	}
	return code
}

// lockLoginCollection locks the Secret Service's login collection; with no display, gnome-keyring's
// unlock prompt then fails as on a server where nobody can type the password.
func lockLoginCollection() error {
	conn, err := dbus.SessionBus()
	if err != nil {
		return err
	}
	var locked []dbus.ObjectPath
	var prompt dbus.ObjectPath
	obj := conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets")
	if err := obj.Call("org.freedesktop.Secret.Service.Lock", 0,
		[]dbus.ObjectPath{"/org/freedesktop/secrets/collection/login"}).Store(&locked, &prompt); err != nil {
		return err
	}
	if len(locked) != 1 {
		return fmt.Errorf("login collection not locked: %v (prompt %s)", locked, prompt)
	}
	return nil
}
