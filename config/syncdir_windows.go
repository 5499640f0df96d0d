package config

// syncDir does nothing on Windows: directories cannot be opened for fsync there, and NTFS journals the
// rename (MoveFileEx with MOVEFILE_REPLACE_EXISTING, which os.Rename uses).
func syncDir(string) error { return nil }
