package main

import "os"

// fileUID is -1 on Windows: owners are SIDs, which the Unix-mode tests do not check.
func fileUID(os.FileInfo) int { return -1 }
