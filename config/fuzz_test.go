package config

import (
	"errors"
	"os"
	"reflect"
	"testing"
)

// FuzzParse: Parse never panics; whatever it accepts is saved and read back as the same valid config;
// a rejection is either a decode error without a config or field errors with a config.
func FuzzParse(f *testing.F) {
	if ex, err := os.ReadFile(examplePath); err == nil {
		f.Add(ex)
	}
	f.Add([]byte(minimalYAML))
	f.Add([]byte(minimalYAML + "tokens: {min_validity: 2s, refresh_ahead: 3s}\nlisten: \"[::1]:9\"\n"))
	f.Add([]byte(minimalYAML + "clients:\n  - &c {id: a, secret_sha256: " + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + ", system_users: [default], scopes: [a:one]}\n  - {<<: *c, id: b}\n"))
	f.Add([]byte("environment: sandbox\nendpoints: {maskinporten_issuer: \"http://127.0.0.1:1/\"}\n"))
	f.Add([]byte("a: 1\n---\nb: 2\n"))
	f.Add([]byte("maskinporten:\n  kidd: 1\n  key: [x]\n"))
	f.Add([]byte("? [a]\n: b\n"))
	f.Add([]byte("x: &a [*a]\n"))
	f.Add([]byte("organization: !!binary MzE0MjUwMDUy\n"))
	f.Add([]byte("\xef\xbb\xbforganization: \"314250052\"\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			var errs Errors
			if errors.As(err, &errs) {
				if c == nil {
					t.Fatal("field errors without the config")
				}
				for _, fe := range errs {
					if fe.Path == "" || fe.Msg == "" {
						t.Fatalf("empty field error %+v", fe)
					}
				}
			} else if c != nil {
				t.Fatalf("decode error %v with a config", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config does not re-validate: %v", err)
		}
		out, err := marshal(c, nil)
		if err != nil {
			t.Fatalf("marshal accepted config: %v", err)
		}
		back, err := Parse(out, "again.yaml")
		if err != nil {
			t.Fatalf("saved form of an accepted config is rejected: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("saved form reads back differently:\n got %+v\nwant %+v", back, c)
		}
	})
}
