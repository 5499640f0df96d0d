package main

import (
	"context"
	"errors"
)

// cmdKeys is a STUB: the keystore owner replaces this file.
func cmdKeys(ctx context.Context, e *env, args []string) error {
	return errors.New("not built yet")
}
