// Package keystore keeps the organisation's Maskinporten private key in a key store and hands it out as
// a crypto.Signer: the OS key store (Windows Credential Manager, macOS Keychain, Linux Secret Service),
// systemd encrypted credentials, a TPM 2.0 the key never leaves, the Windows certificate store (CNG), a
// development-only file, or memory. It generates keys in place, imports
// PEM/DER/JWK/PKCS#12 (ParsePrivateKey), renders public JWKs, and runs key rotation (Rotate, Activate).
// Every backend passes one conformance suite (conformance_test.go).
//
// The agent and tokens packages must never import keystore: they get a crypto.Signer from cmd/agent.
// go-keyring, go-tpm and certtostore are imported here and nowhere else. Describe says which backend
// signs and whether its key is exportable (doctor and /readyz report it).
//
// # Backends
//
//   - keyring: one entry per key (service "systemuser-agent", account = key name) holding base64 of the
//     PKCS#8 DER, plus an index entry "_index" listing the names, because go-keyring cannot enumerate.
//     Windows Credential Manager stores at most 2560 bytes per entry (WindowsBlobLimit); measured
//     encodings: RSA-2048 1624 B, RSA-3072 2392 B, RSA-4096 3168 B (PKCS#8 DER 1217/1792/2375 B; PEM
//     1704/2484/3272 B). RSA-4096 is refused before writing with ErrTooBig naming the limit; keys are not
//     chunked over several entries, since Maskinporten documents RSA-2048 and a split key could be left
//     half-written. macOS (go-keyring's 4096-byte "security -i" command) refuses RSA-4096 too; Linux has
//     no limit. Errors name the cause and the fix: no Secret Service ("org.freedesktop.secrets was not
//     provided") → use backend systemd-creds on a headless server (ErrUnavailable); locked → unlock it
//     (ErrLocked).
//   - systemd-creds (Linux servers, the default there): each key is an encrypted credential
//     /etc/credstore.encrypted/systemuser-agent-<name>.cred made by "systemd-creds encrypt
//     --with-key=auto --name=systemuser-agent-<name>" (TPM2 where present, else the root-only host key
//     /var/lib/systemd/credential.secret, AES-256-GCM). The key goes in on stdin and the ciphertext comes
//     back on stdout, so plain key bytes never touch argv, the environment or a file; the file is written
//     0600 by link (never replacing one), then decrypted again and compared (D18). The service unit loads
//     it with LoadCredentialEncrypted=SystemdCredName(name):SystemdCredPath(dir, name) and the service
//     reads the plain key from $CREDENTIALS_DIRECTORY (Options.CredentialsDir), a non-swappable directory
//     only it can read. Verified here (Debian 12, systemd 252, as root, systemd not PID 1): --with-key=auto
//     falls back to the host key without a TPM and works; decrypting under another name fails ("Embedded
//     credential name ... does not match"), so a credential cannot be swapped for another key's.
//   - tpm2 (Linux): the TPM makes an RSA-2048 signing key (RSASSA-SHA256 only) under the owner
//     hierarchy's storage key (primary key from the TCG ECC P-256 SRK template, empty owner password),
//     with fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth and sign: the TPM never exports its
//     private part, not even wrapped (TPM2_Duplicate is refused). What is saved is a key file,
//     TPM2KeyPath (/etc/credstore/systemuser-agent-<name>.tpm2key, TSS2 "TSS2 PRIVATE KEY" PEM): the
//     public area and the private area encrypted under this TPM's storage key. A saved key file rather
//     than a persistent handle: persistent handles are a few NV slots shared by everything on the machine
//     and need owner authorisation to make and remove, while key files map one to one onto names, so
//     List, Delete and rotation work as for the other backends, and the unit hands the file to the
//     service with LoadCredential= like systemd-creds'. Another TPM (another machine, or this one after
//     its owner was cleared) cannot load the file: Signer loads and test-signs at once, so the service
//     refuses to start with that reason. Put is refused (ErrNoImport): an imported key has copies. The
//     service reaches /dev/tpmrm0 (the kernel's resource manager) through DeviceAllow=, BindPaths= and
//     the device's group (installer.TPMAccess). Tests use swtpm's TCP socket (Options.TPMDevice
//     "swtpm:host=…,port=…"), allowed in config only with environment sandbox.
//   - windows-cert (Windows): a certificate in the LocalMachine\My store selected by SHA-1 thumbprint;
//     signing goes through CNG (certtostore), so the key stays in its key storage provider (TPM-backed
//     with the Microsoft Platform Crypto Provider). Grants carry the certificate chain (x5c) or a kid.
//   - file: development only (D17). Open refuses it unless Options.AllowFile; it refuses key files
//     readable by group or others, symlinked key files, and directories writable by group or others; it
//     writes PKCS#8 PEM 0600 atomically. Not available on Windows, where mode bits prove nothing.
//   - memory: tests and the demo.
//
// # Enterprise certificates (x5c)
//
// ParseCertifiedKey reads a key together with its certificate chain (PKCS#12, or a PEM bundle) and
// returns a signer carrying the chain (Chainer; Chain, ChainDER), ordered leaf first through its
// issuers. systemd-creds, file and memory store the chain with the key (CERTIFICATE blocks after the
// key's PEM) and return it from Signer; keyring and the Windows hand-over keep the key alone and refuse
// a key with a chain (ErrNoChain) rather than drop it: there the certificate belongs in the certificate
// store (windows-cert). Config maskinporten.grant_header chooses kid or x5c.
//
// # Windows: the key must reach the service account's vault
//
// Credential Manager vaults belong to an account and its logon session. A key the administrator stores
// from an elevated prompt lands in the administrator's vault, invisible to the service running as
// NT SERVICE\systemuser-agent; over SSH/WinRM (network logon) there is no vault at all (error 1312). So on
// Windows the CLI never writes Credential Manager itself: keystore.Open with backend keyring and
// InService false returns a Remote store that talks to the running service over a named pipe, and the
// service performs every operation in its own vault:
//
//  1. The service (agent run, Options.InService true) calls ListenHandoverAt and ServeHandover with its
//     keyring store. The pipe (HandoverEndpoint.Pipe, default HandoverPipeName) is owned by the service
//     account and has a protected DACL: SYSTEM, elevated Administrators and the service's own account
//     (to create further instances), deny network logons; it is created with
//     FILE_FLAG_FIRST_PIPE_INSTANCE and PIPE_REJECT_REMOTE_CLIENTS, so a second creator fails. The
//     service refuses to open it when it does not run as HandoverEndpoint.Account.
//  2. The CLI (elevated) opens the pipe and, before sending anything, checks that the pipe's owner and the
//     account of the serving process (GetNamedPipeServerProcessId, process token) are both the service
//     account (HandoverEndpoint.Account, the one the installer gave the service): a process squatting
//     the pipe name gets nothing. An account that does not resolve is an error, not a skipped check.
//  3. One request per connection, one frame each way (handover.go): "SUAK", version, a JSON header
//     without secrets ({op, name, bits, to}), and a binary payload — the only place key material travels,
//     wiped after use. Operations: generate (the service makes the key: nothing secret crosses), put
//     (PKCS#8 DER, once), public, sign (a SHA-256 digest, RS256 only: lets the CLI's crypto.Signer work
//     without the key leaving the service), copy (rotation), delete, list; and reload (the service
//     re-reads its config and key: HandoverServer.Reloader) and status (the kid it signs with).
//  4. After generate, put or copy the service reads the key back from its vault, signs a random digest and
//     verifies it with the expected public key before answering ok (D18); on failure it deletes the entry.
//     Errors keep their sentinel (not_found, exists, too_big, locked, unavailable, unsupported).
//  5. If the service is not running the CLI says so: start it (agent service start) and retry.
//
// The pipe is not under \\.\pipe\ProtectedPrefix\Administrators\ as security.md D10 suggests: only
// members of Administrators may create pipes there, and the virtual service account is not one. The
// server-identity check in step 2 defeats squatting instead, as the prefix would. The framing, server,
// client and verification are tested on Linux over a Unix socket, and the same tests run over the real
// pipe in the wine lane (scripts/wine-lane), with the refusal of a pipe served by another account;
// what wine cannot show (a squatter really running as another account, DACL enforcement) is in
// docs/windows-test-plan.md.
//
// # Secrets in memory (D12)
//
// Buffers that held PEM, DER or passwords are wiped after use (Wipe), best effort: RSA big.Ints cannot be
// wiped, go-keyring takes and returns Go strings, and go-pkcs12 takes the password as a string. Errors
// never quote key bytes (JSON syntax errors are reduced to their offset).
package keystore
