package main

import (
	"context"
	"errors"
)

// cmdDemo is a STUB being written by the lead.
func cmdDemo(ctx context.Context, e *env, args []string) error { return errors.New("not built yet") }
