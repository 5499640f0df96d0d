package main

import (
	"context"
	"errors"
)

// cmdRequest is a STUB: the registry owner replaces this file.
func cmdRequest(ctx context.Context, e *env, args []string) error {
	return errors.New("not built yet")
}
