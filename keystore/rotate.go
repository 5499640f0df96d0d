package keystore

import (
	"context"
	"crypto"
	"errors"
	"fmt"
)

// NextName is where Rotate puts the next key beside the active key name.
func NextName(name string) string { return name + "-next" }

// PreviousName is where Activate keeps the former active key.
func PreviousName(name string) string { return name + "-previous" }

// Rotate starts a key rotation (maskinporten.md §5): it generates NextName(name) beside the active key,
// which keeps signing. It returns both keys so the caller can print the JWK set (old + new) to register.
func Rotate(ctx context.Context, s Store, name string, bits int) (active, next crypto.Signer, err error) {
	if err := CheckName(NextName(name)); err != nil {
		return nil, nil, err
	}
	if err := CheckName(PreviousName(name)); err != nil {
		return nil, nil, err
	}
	active, err = s.Signer(ctx, name)
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: rotate %q: there is no active key to rotate from (%w): generate or import one first", name, err)
	}
	next, err = s.Generate(ctx, NextName(name), bits)
	if errors.Is(err, ErrExists) {
		return nil, nil, fmt.Errorf("keystore: rotate %q: a rotation is already under way (%q exists): finish it with \"agent keys activate\", or delete %q to start over: %w", name, NextName(name), NextName(name), ErrExists)
	}
	if err != nil {
		return nil, nil, err
	}
	return active, next, nil
}

// Activate finishes a rotation: the key under NextName(name) becomes name, and the former key is kept as
// PreviousName(name) until its tokens have expired. Each step leaves both keys retrievable: previous is
// written before the active name is replaced, and next is deleted last. It refuses while an older
// PreviousName(name) exists, so no key is dropped without the operator saying so.
func Activate(ctx context.Context, s Store, name string) (previous, active crypto.Signer, err error) {
	next, err := s.Signer(ctx, NextName(name))
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: activate %q: no next key (%w): run \"agent keys rotate\" first", name, err)
	}
	old, err := s.Signer(ctx, name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, nil, fmt.Errorf("keystore: activate %q: read the active key: %w", name, err)
	}
	if old != nil {
		if err := copyKey(ctx, s, name, PreviousName(name), old); err != nil {
			if errors.Is(err, ErrExists) {
				return nil, nil, fmt.Errorf("keystore: activate %q: %q still holds the key before the current one: delete it first (agent keys delete --name %s --yes) once nothing signs with it: %w", name, PreviousName(name), PreviousName(name), ErrExists)
			}
			return nil, nil, fmt.Errorf("keystore: activate %q: keep the old key as %q: %w", name, PreviousName(name), err)
		}
		if err := s.Delete(ctx, name); err != nil {
			return nil, nil, fmt.Errorf("keystore: activate %q: remove the old key (a copy is in %q): %w", name, PreviousName(name), err)
		}
	}
	if err := copyKey(ctx, s, NextName(name), name, next); err != nil {
		restore := ""
		if old != nil {
			if rerr := copyKey(ctx, s, PreviousName(name), name, old); rerr != nil {
				restore = fmt.Sprintf("; restoring the old key failed too (%v): it is in %q", rerr, PreviousName(name))
			}
		}
		return nil, nil, fmt.Errorf("keystore: activate %q: store the new key (it is still in %q)%s: %w", name, NextName(name), restore, err)
	}
	if err := s.Delete(ctx, NextName(name)); err != nil {
		return nil, nil, fmt.Errorf("keystore: activate %q: the new key is active, but removing %q failed: delete it by hand: %w", name, NextName(name), err)
	}
	return old, next, nil
}

// Copier is implemented by stores whose signers do not carry the private key (Remote): they copy a key
// from one name to another inside the store, and Activate uses that.
type Copier interface {
	// Copy stores the key under from also under to; ErrExists if to is taken, ErrNotFound if from is.
	Copy(ctx context.Context, from, to string) error
}

// copyKey stores key (the key under from) under to, inside the store when it can.
func copyKey(ctx context.Context, s Store, from, to string, key crypto.Signer) error {
	if c, ok := s.(Copier); ok {
		return c.Copy(ctx, from, to)
	}
	return s.Put(ctx, to, key)
}
