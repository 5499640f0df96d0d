package main

import (
	"context"
	"errors"
)

// cmdSystem is a STUB: the registry owner replaces this file.
func cmdSystem(ctx context.Context, e *env, args []string) error {
	return errors.New("not built yet")
}
