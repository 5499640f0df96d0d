package installer

import (
	"fmt"
	"path"
	"strings"
	"text/template"
)

// unitTemplate is the hardened unit of security.md §5. Every directive is deliberate; the exposure
// score (systemd-analyze security --offline=yes) is checked in tests. What remains exposed: network
// access (Maskinporten and Altinn are on the internet), the host's root directory, and the TPM device
// systemd adds for encrypted credentials.
var unitTemplate = template.Must(template.New("unit").Parse(`# Written by "agent service install"; rewritten on every install.
[Unit]
Description={{.Description}}
Documentation=https://github.com/systemuser-agent/systemuser-agent
After=network-online.target
Wants=network-online.target
# No restart storm: a service that fails to start (config or key missing, port taken) is retried every
# RestartSec at most StartLimitBurst times within StartLimitIntervalSec, then left failed;
# "agent doctor" says why, "systemctl reset-failed" and "systemctl start" try again.
StartLimitIntervalSec=120
StartLimitBurst=5
{{- if .ListenPort}}
# Serves tokens on loopback port {{.ListenPort}} (listen: in the config).
{{- end}}

[Service]
Type=simple
ExecStart={{.ExecStart}}
# systemctl reload: callers, scopes, log level and a new key after "agent keys activate" apply without a
# restart. The service sees only the copies of its credentials systemd made at start and cannot decrypt
# new ones, so this runs as root outside the sandbox (+): it decrypts them and hands them to the main
# process over the root-only socket in /run/{{.ReloadDirectory}}; a broken config fails the reload, saying why.
ExecReload=+{{.ExecReload}}
Restart=on-failure
RestartSec=5s
{{if .User}}User={{.User}}
{{else}}DynamicUser=yes
{{end -}}
StateDirectory={{.StateDirectory}}
StateDirectoryMode=0700
{{- if .RuntimeDirectory}}
# unix_socket {{.UnixSocket}} (security.md D10): systemd makes its directory, owned by the service's
# account, mode 0750; the agent lets the callers' accounts (os_user) in by ACL. The reload socket there
# is 0600 and answers root only.
RuntimeDirectory={{.ReloadDirectory}}{{if ne .RuntimeDirectory .ReloadDirectory}} {{.RuntimeDirectory}}{{end}}
RuntimeDirectoryMode=0750
{{- else}}
RuntimeDirectory={{.ReloadDirectory}}
RuntimeDirectoryMode=0700
{{- end}}
{{- if .ConfigurationDirectory}}
ConfigurationDirectory={{.ConfigurationDirectory}}
ConfigurationDirectoryMode=0700
{{- end}}
LoadCredential={{.ConfigCredential}}
{{- if .KeyCredential}}
LoadCredentialEncrypted={{.KeyCredential}}
{{- end}}
{{- if .KeyFile}}
# The key file is the key wrapped by this machine's TPM: useless elsewhere, so loaded as it is.
LoadCredential={{.KeyFile}}
{{- end}}
UMask=0077
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
{{- if .TPMDevice}}
# Backend tpm2: the key never leaves the TPM; the service signs through this device and reaches no other.
DeviceAllow={{.TPMDevice}} rw
BindPaths={{.TPMDevice}}
SupplementaryGroups={{.TPMGroup}}
{{- end}}
{{- if .RuntimeDirectory}}
# No PrivateUsers=: in a user namespace every caller's uid reads as 65534, so the socket could not tell
# its callers apart (SO_PEERCRED).
{{- else}}
PrivateUsers=yes
{{- end}}
PrivateIPC=yes
PrivateMounts=yes
ProtectHostname=yes
ProtectClock=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
KeyringMode=private
RemoveIPC=yes
LimitCORE=0

[Install]
WantedBy=multi-user.target
`))

// unitData is what the template sees; every value is already escaped for systemd.
type unitData struct {
	Description            string
	ListenPort             int
	ExecStart              string
	ExecReload             string
	ReloadDirectory        string
	User                   string
	StateDirectory         string
	ConfigurationDirectory string
	ConfigCredential       string
	KeyCredential          string
	KeyFile                string
	TPMDevice              string
	TPMGroup               string
	UnixSocket             string
	RuntimeDirectory       string
}

// RenderSystemdUnit returns the hardened unit for o (defaults applied). The service reads its config
// from the credential copy %d/config.yaml that systemd makes of o.ConfigPath, so the file stays root-owned
// and 0600 while the service runs as an unprivileged (dynamic) user.
func RenderSystemdUnit(o Options) (string, error) {
	o = o.withDefaults("linux")
	if err := o.validateLinux(); err != nil {
		return "", err
	}
	stateName, _ := stateDirectoryName(o.StateDir)
	runtimeName, err := runtimeDirectoryName(o.UnixSocket)
	if err != nil {
		return "", err
	}
	args := serviceArgs("%d/"+ConfigCredential, o.StateDir)
	exec := []string{systemdQuote(o.Executable)}
	for i, a := range args {
		if i == 2 { // the config argument: the %d specifier must stay unescaped
			exec = append(exec, a)
			continue
		}
		exec = append(exec, systemdQuote(a))
	}
	reload := []string{systemdQuote(o.Executable)}
	for _, a := range []string{"service", "reload", "--config", o.ConfigPath} {
		reload = append(reload, systemdQuote(a))
	}
	d := unitData{
		Description:            systemdEscapeValue(o.Description),
		ListenPort:             o.ListenPort,
		ExecStart:              strings.Join(exec, " "),
		ExecReload:             strings.Join(reload, " "),
		ReloadDirectory:        systemdEscapeValue(o.Name),
		User:                   o.User,
		StateDirectory:         systemdEscapeValue(stateName),
		ConfigurationDirectory: systemdEscapeValue(configurationDirectoryName(o.ConfigPath)),
		ConfigCredential:       ConfigCredential + ":" + systemdEscapeValue(o.ConfigPath),
		UnixSocket:             systemdEscapeValue(o.UnixSocket),
		RuntimeDirectory:       systemdEscapeValue(runtimeName),
	}
	if c := o.Credential; c != nil && c.Plain {
		d.KeyFile = c.Name + ":" + systemdEscapeValue(c.Path)
	} else if c != nil {
		d.KeyCredential = c.Name + ":" + systemdEscapeValue(c.Path)
	}
	if t := o.TPM; t != nil {
		d.TPMDevice, d.TPMGroup = t.Device, t.Group
	}
	var b strings.Builder
	if err := unitTemplate.Execute(&b, d); err != nil {
		return "", fmt.Errorf("render the systemd unit: %w", err)
	}
	return b.String(), nil
}

// systemdEscapeValue escapes specifiers (%) in a plain directive value.
func systemdEscapeValue(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// systemdQuote makes one ExecStart word: specifiers (%) and variables ($) escaped, and double quotes
// around anything that is not plainly safe, with \ and " escaped inside.
func systemdQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:@,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$")
	return `"` + r.Replace(s) + `"`
}

// runtimeDirectoryName turns the socket /run/x/y/token.sock into "x/y" for RuntimeDirectory=: "" for no
// socket, an error for one systemd cannot give the service (outside a directory of its own under /run).
func runtimeDirectoryName(socket string) (string, error) {
	if socket == "" {
		return "", nil
	}
	rel, ok := strings.CutPrefix(path.Dir(socket), "/run/")
	if !ok || path.Clean(socket) != socket || !dirNameRE.MatchString(rel) || !dirNameRE.MatchString(path.Base(socket)) {
		return "", fmt.Errorf("unix_socket %q: the service can create its socket only in a directory of its own under /run "+
			"(letters, digits, '.', '_', '-'), e.g. /run/systemuser-agent/token.sock; change unix_socket in the config", socket)
	}
	return rel, nil
}
