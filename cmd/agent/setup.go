package main

import (
	"context"
	"errors"
)

// cmdSetup is a STUB: the setup owner replaces this file.
func cmdSetup(ctx context.Context, e *env, args []string) error {
	return errors.New("not built yet")
}
