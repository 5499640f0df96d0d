package main

import (
	"context"
	"errors"
)

// cmdSandbox is a STUB being written by the lead.
func cmdSandbox(ctx context.Context, e *env, args []string) error { return errors.New("not built yet") }
