package keystore

import "testing"

func TestMemoryConformance(t *testing.T) {
	testStore(t, func(t *testing.T) Store { return NewMemory() })
}

func TestMemoryZeroValueReady(t *testing.T) {
	testStore(t, func(t *testing.T) Store { return &Memory{} })
}
