package main

import "os"

// fileUID is -1 on Windows: owners are SIDs, which the Unix-mode tests do not check.
func fileUID(os.FileInfo) int { return -1 }

// fileOwner is -1, -1 on Windows.
func fileOwner(os.FileInfo) (int, int) { return -1, -1 }
