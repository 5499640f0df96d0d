package main

import (
	"context"
	"errors"
)

// cmdRun is a STUB being written by the lead.
func cmdRun(ctx context.Context, e *env, args []string) error { return errors.New("not built yet") }
