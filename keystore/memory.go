package keystore

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"slices"
	"sync"
)

// Memory is a key store that lives in process memory: for tests and the demo. The zero value is ready.
type Memory struct {
	mu   sync.Mutex
	keys map[string]crypto.Signer
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{} }

// Backend implements Store.
func (m *Memory) Backend() string { return "memory" }

// Generate implements Store.
func (m *Memory) Generate(ctx context.Context, name string, bits int) (crypto.Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	key, err := generateRSA(bits)
	if err != nil {
		return nil, err
	}
	if err := m.Put(ctx, name, key); err != nil {
		return nil, err
	}
	return key, nil
}

// Put implements Store.
func (m *Memory) Put(_ context.Context, name string, key crypto.Signer) error {
	if err := CheckName(name); err != nil {
		return err
	}
	var rk crypto.Signer
	rk, err := rsaKey(key)
	if err != nil {
		return err
	}
	if chain := Chain(key); len(chain) > 0 {
		rk = &certified{PrivateKey: rk.(*rsa.PrivateKey), chain: chain}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = map[string]crypto.Signer{}
	}
	if _, ok := m.keys[name]; ok {
		return fmt.Errorf("keystore memory: %q: %w", name, ErrExists)
	}
	m.keys[name] = rk
	return nil
}

// Signer implements Store.
func (m *Memory) Signer(_ context.Context, name string) (crypto.Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[name]
	if !ok {
		return nil, fmt.Errorf("keystore memory: %q: %w", name, ErrNotFound)
	}
	return k, nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[name]; !ok {
		return fmt.Errorf("keystore memory: %q: %w", name, ErrNotFound)
	}
	delete(m.keys, name)
	return nil
}

// List implements Store.
func (m *Memory) List(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.keys))
	for n := range m.keys {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// generateRSA makes a new RSA key of a size Maskinporten can take.
func generateRSA(bits int) (*rsa.PrivateKey, error) {
	if err := checkBits(bits); err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("keystore: generate RSA-%d: %w", bits, err)
	}
	key.Precompute()
	return key, nil
}

// checkBits accepts the RSA sizes Maskinporten can take.
func checkBits(bits int) error {
	switch bits {
	case 2048, 3072, 4096:
		return nil
	}
	return fmt.Errorf("keystore: RSA-%d is not supported: use 2048 (Maskinporten's documented size), 3072 or 4096", bits)
}
