package config

import (
	"slices"
	"strings"
	"testing"
)

// TestCheckTransports: unix_socket and named_pipe (D10) are accepted only on their own OS, well formed,
// with an os_user to admit; a caller without a secret needs the transport of its OS.
func TestCheckTransports(t *testing.T) {
	const sock, pipe = "/run/systemuser-agent/token.sock", `\\.\pipe\systemuser-agent\api`
	withUser := func(c *Config) { c.Clients[0].OSUser = "sapadm" }
	noSecret := func(c *Config) { c.Clients[0].SecretSHA256, c.Clients[0].OSUser = "", "sapadm" }
	cases := []struct {
		name, goos string
		edit       func(c *Config)
		path, want string // the error's field and a word of its message; "" = valid
	}{
		{"socket on linux", "linux", func(c *Config) { withUser(c); c.UnixSocket = sock }, "", ""},
		{"socket and a caller without secret", "linux", func(c *Config) { noSecret(c); c.UnixSocket = sock }, "", ""},
		{"pipe on windows", "windows", func(c *Config) { withUser(c); c.NamedPipe = pipe }, "", ""},
		{"pipe in other case", "windows", func(c *Config) { withUser(c); c.NamedPipe = `\\.\PIPE\acme\token` }, "", ""},
		{"pipe and a caller without secret", "windows", func(c *Config) { noSecret(c); c.NamedPipe = pipe }, "", ""},
		{"neither, every caller has a secret", "linux", withUser, "", ""},
		{"socket on windows", "windows", func(c *Config) { withUser(c); c.UnixSocket = sock }, "unix_socket", "needs Linux"},
		{"socket on darwin", "darwin", func(c *Config) { withUser(c); c.UnixSocket = sock }, "unix_socket", "needs Linux"},
		{"pipe on linux", "linux", func(c *Config) { withUser(c); c.NamedPipe = pipe }, "named_pipe", "Windows only"},
		{"socket relative", "linux", func(c *Config) { withUser(c); c.UnixSocket = "run/a.sock" }, "unix_socket", "absolute"},
		{"socket not clean", "linux", func(c *Config) { withUser(c); c.UnixSocket = "/run/x/../a/t.sock" }, "unix_socket", `"/run/a/t.sock"`},
		{"socket in a top directory", "linux", func(c *Config) { withUser(c); c.UnixSocket = "/run/token.sock" }, "unix_socket", "directory of its own"},
		{"socket in /", "linux", func(c *Config) { withUser(c); c.UnixSocket = "/token.sock" }, "unix_socket", "directory of its own"},
		{"socket too long", "linux", func(c *Config) { withUser(c); c.UnixSocket = "/run/x/" + strings.Repeat("s", 101) }, "unix_socket", "at most 107"},
		{"socket control char", "linux", func(c *Config) { withUser(c); c.UnixSocket = "/run/x/a\n.sock" }, "unix_socket", "control"},
		{"socket without os_user", "linux", func(c *Config) { c.UnixSocket = sock }, "unix_socket", "no client has os_user"},
		{"pipe without os_user", "windows", func(c *Config) { c.NamedPipe = pipe }, "named_pipe", "no client has os_user"},
		{"pipe not a pipe", "windows", func(c *Config) { withUser(c); c.NamedPipe = `C:\pipe\x` }, "named_pipe", `starts with \\.\pipe\`},
		{"pipe empty name", "windows", func(c *Config) { withUser(c); c.NamedPipe = `\\.\pipe\` }, "named_pipe", `starts with \\.\pipe\`},
		{"remote pipe", "windows", func(c *Config) { withUser(c); c.NamedPipe = `\\server\pipe\x` }, "named_pipe", `starts with \\.\pipe\`},
		{"pipe with slash", "windows", func(c *Config) { withUser(c); c.NamedPipe = `\\.\pipe\a/b` }, "named_pipe", `"/"`},
		{"pipe too long", "windows", func(c *Config) { withUser(c); c.NamedPipe = pipe + strings.Repeat("p", 250) }, "named_pipe", "at most 256"},
		{"the hand-over pipe", "windows", func(c *Config) { withUser(c); c.NamedPipe = `\\.\pipe\SystemUser-Agent\keys` }, "named_pipe", "hand-over"},
		{"no secret, no socket", "linux", noSecret, "clients[0].secret_sha256", "unix_socket is not set"},
		{"no secret, no pipe", "windows", noSecret, "clients[0].secret_sha256", "named_pipe is not set"},
		{"no secret, only a pipe on linux", "linux", func(c *Config) { noSecret(c); c.NamedPipe = pipe }, "clients[0].secret_sha256", "unix_socket"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(c)
			err := c.validate(tc.goos)
			if tc.path == "" {
				if err != nil {
					t.Fatalf("want valid, got:\n%v", err)
				}
				return
			}
			errs := mustErrors(t, err)
			i := slices.IndexFunc(errs, func(fe FieldError) bool { return fe.Path == tc.path })
			if i < 0 || !strings.Contains(errs[i].Msg, tc.want) {
				t.Fatalf("want an error at %s saying %q, got:\n%v", tc.path, tc.want, errs)
			}
		})
	}
}

func TestOSUsers(t *testing.T) {
	c := &Config{Clients: []Client{{ID: "a", OSUser: "x"}, {ID: "b"}, {ID: "c", OSUser: "y"}, {ID: "d", OSUser: "x"}}}
	if got := c.OSUsers(); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("OSUsers = %q, want [x y]", got)
	}
}
