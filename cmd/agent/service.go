package main

import (
	"context"
	"errors"
)

// cmdService is a STUB: the installer owner replaces this file.
func cmdService(ctx context.Context, e *env, args []string) error {
	return errors.New("not built yet")
}
