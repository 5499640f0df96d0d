package installer

// reload is systemctl reload: the unit's ExecReload=+ runs "agent service reload" as root.
func (s *systemdBackend) reload() error { return s.control("reload") }
