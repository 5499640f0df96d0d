//go:build !linux

package agent

// HardenProcess does nothing on this OS: process memory protection (D12) is implemented for Linux;
// Windows services are protected by their virtual account's process DACL.
func HardenProcess() error { return nil }
