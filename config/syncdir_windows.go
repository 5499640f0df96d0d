package config

// syncDir does nothing on Windows: directories cannot be opened for fsync there, and NTFS journals the
// rename (MoveFileEx with MOVEFILE_REPLACE_EXISTING, which os.Rename uses).
func syncDir(string) error { return nil }

// giveToDirOwner is a no-op on Windows, where the state directory's inherited ACL grants the service
// account access.
func giveToDirOwner(path, dir string) error { return nil }
