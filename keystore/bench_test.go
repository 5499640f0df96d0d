package keystore

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkSigner measures reading the key from each backend (what the service does at start and after a
// key change): callers keep the signer rather than read it per grant.
func BenchmarkSigner(b *testing.B) {
	backends := []struct {
		name string
		open func(tb testing.TB) Store
	}{
		{"memory", func(testing.TB) Store { return NewMemory() }},
		{"file", func(tb testing.TB) Store {
			s, err := Open(Options{Backend: BackendFile, Dir: filepath.Join(tb.TempDir(), "k"), AllowFile: true})
			if err != nil {
				tb.Fatal(err)
			}
			return s
		}},
		{"systemd-creds", func(tb testing.TB) Store { return newTestSystemdCreds(tb) }},
		{"keyring", func(tb testing.TB) Store { return newTestKeyring(tb) }},
		{"remote-memory", func(tb testing.TB) Store { r, _ := serveTest(tb, NewMemory()); return r }},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			if err := s.Put(context.Background(), "bench", rsaTestKey(b, 2048)); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.Signer(context.Background(), "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
