package main

import (
	"context"
	"errors"
)

// cmdToken is a STUB being written by the lead.
func cmdToken(ctx context.Context, e *env, args []string) error { return errors.New("not built yet") }
