package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// StateVersion is the state file format this agent reads and writes.
const StateVersion = 1

// stateFile is the state file's name inside the state directory.
const stateFile = "state.json"

// State is what the agent learned from Altinn; written atomically to <state dir>/state.json (JSON, 0600).
type State struct {
	// Version is the file format, StateVersion.
	Version int `json:"version"`
	// System is the registered system.
	System SystemState `json:"system"`
	// SystemUsers are the requests and system users, by config system user name.
	SystemUsers map[string]SystemUserState `json:"system_users"`
	// Keys are the signing keys registered on the Maskinporten client, by kid, with their expiry.
	Keys map[string]KeyState `json:"keys,omitempty"`
}

// KeyState is what the agent knows of one key registered on the Maskinporten client. An ordinary client
// cannot read its keys' expiry, so the agent records it when a person confirms the upload (upload time
// plus one year, Maskinporten's limit) or reads it from the self-service API (admin client).
type KeyState struct {
	// Uploaded is when the key was uploaded (confirmed or posted).
	Uploaded time.Time `json:"uploaded,omitzero"`
	// Expires is when Maskinporten stops accepting it (MP-121).
	Expires time.Time `json:"expires,omitzero"`
	// Source is "confirmed" (a person uploaded it) or "self-service" (exp read back from the API).
	Source string `json:"source,omitempty"`
}

// Grant is a set of rights and access packages.
type Grant struct {
	// Rights are resource ids, with ":<action>" when an action is set.
	Rights []string `json:"rights,omitempty"`
	// AccessPackages are access package URNs.
	AccessPackages []string `json:"access_packages,omitempty"`
}

// ChangeState is a change request for a system user's rights (altinn-api.md §4.5). Its ID is made by
// the agent and recorded before the request is sent, so a setup killed after sending re-sends the same
// id and Altinn returns the stored change request instead of making a second one.
type ChangeState struct {
	// ID is the correlation id, the change request's id in Altinn.
	ID string `json:"id"`
	// Status is "" until Altinn confirmed the change request, then New, Accepted, Rejected.
	Status string `json:"status,omitempty"`
	// ConfirmURL is where an administrator approves it.
	ConfirmURL string `json:"confirm_url,omitempty"`
	// Add and Remove are what it asks for.
	Add    Grant `json:"add,omitzero"`
	Remove Grant `json:"remove,omitzero"`
	// Created is when the id was made; Updated when the agent last learned something about it.
	Created time.Time `json:"created,omitzero"`
	Updated time.Time `json:"updated,omitzero"`
}

// SystemState is what Altinn said about the organisation's system.
type SystemState struct {
	// ID is the system id, "<organization>_<name>".
	ID string `json:"id"`
	// InternalID is the UUID Altinn returned when the system was created.
	InternalID string `json:"internal_id,omitempty"`
	// ClientID is the Maskinporten client id registered on the system.
	ClientID string `json:"client_id,omitempty"`
	// Registered is when the agent created the system.
	Registered time.Time `json:"registered,omitzero"`
	// Updated is when the agent last created or replaced the system.
	Updated time.Time `json:"updated,omitzero"`
}

// SystemUserState is what Altinn said about one system user request and the system user it created.
type SystemUserState struct {
	// ExternalRef is the externalRef sent (empty when none was sent).
	ExternalRef string `json:"external_ref,omitempty"`
	// RequestID is the system user request's id.
	RequestID string `json:"request_id,omitempty"`
	// Status is the request status as Altinn says: New, Accepted, Rejected, Denied, Timedout.
	Status string `json:"status,omitempty"`
	// TimedOut is Altinn's timedOut flag.
	TimedOut bool `json:"timed_out,omitempty"`
	// ConfirmURL is where an administrator approves the request.
	ConfirmURL string `json:"confirm_url,omitempty"`
	// SystemUserID is the system user's id once accepted.
	SystemUserID string `json:"system_user_id,omitempty"`
	// Approved is what the system user was last seen to hold: the accepted request's grant with every
	// accepted change request applied (the agent's own record, beside what Altinn's vendor API shows).
	Approved *Grant `json:"approved,omitempty"`
	// Change is the change request under way (or the last one), nil when none was sent.
	Change *ChangeState `json:"change,omitempty"`
	// Updated is when the agent last learned something about this request.
	Updated time.Time `json:"updated,omitzero"`
}

// StatusAccepted is Altinn's status of an approved system user request.
const StatusAccepted = "Accepted"

// Accepted reports whether this system user is accepted: its request was approved (status Accepted, in
// any case) and has not timed out. It is the one place that decides it: the service's readiness,
// `agent request`, `agent doctor` and the onboarding steps all ask it.
func (us SystemUserState) Accepted() bool {
	return strings.EqualFold(us.Status, StatusAccepted) && !us.TimedOut
}

// Unaccepted names the system users of users that are not accepted in st, in config order.
func (st *State) Unaccepted(users []SystemUser) []string {
	var out []string
	for _, su := range users {
		if !st.SystemUsers[su.Name].Accepted() {
			out = append(out, su.Name)
		}
	}
	return out
}

// StatePath is the state file's path in the state directory dir.
func StatePath(dir string) string { return filepath.Join(dir, stateFile) }

// NewState returns an empty State of the current version.
func NewState() *State {
	return &State{Version: StateVersion, SystemUsers: map[string]SystemUserState{}}
}

// LoadState reads the state file in dir. A missing file gives an empty State. A corrupt file, or one
// written by a newer agent, is an error that names the file; the file is left untouched.
func LoadState(dir string) (*State, error) {
	path := StatePath(dir)
	data, err := readBounded(path)
	if errors.Is(err, fs.ErrNotExist) {
		return NewState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state file %s: %w; check that this account may read it (--state-dir picks another directory)", path, err)
	}
	return parseState(path, data)
}

func parseState(path string, data []byte) (*State, error) {
	corrupt := func(why string, err error) error {
		return fmt.Errorf("state file %s is corrupt (%s: %w); it was left untouched. Move it away (e.g. to %s.bad) and run `agent setup` again: it finds the system and system users in Altinn and writes a new state file", path, why, err, path)
	}
	var s State
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
		return nil, corrupt("not JSON", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, corrupt("extra data after the JSON object", errors.New("unexpected trailing data"))
	}
	switch {
	case s.Version > StateVersion:
		return nil, fmt.Errorf("state file %s has version %d, written by a newer agent (this one reads version %d); it was left untouched. Upgrade the agent", path, s.Version, StateVersion)
	case s.Version < 1:
		return nil, corrupt("no valid version", fmt.Errorf("version %d", s.Version))
	}
	if s.SystemUsers == nil {
		s.SystemUsers = map[string]SystemUserState{}
	}
	return &s, nil
}

// SaveState atomically writes s to the state file in dir with mode 0600, creating dir (0700) if missing. It
// refuses to overwrite a state file that is corrupt or newer, so nothing is lost that a person could
// still recover.
func SaveState(dir string, s *State) error {
	if s == nil {
		return errors.New("save state: nothing to save (nil state)")
	}
	if s.Version == 0 {
		s.Version = StateVersion
	}
	if s.Version != StateVersion {
		return fmt.Errorf("save state: version %d is not %d, the version this agent writes", s.Version, StateVersion)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save state: create state directory %s: %w; create it or pick another with --state-dir", dir, err)
	}
	path := StatePath(dir)
	if _, err := LoadState(dir); err != nil {
		return fmt.Errorf("refusing to overwrite the state file: %w", err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save state: encode: %w", err)
	}
	if err := WriteFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := giveToDirOwner(path, dir); err != nil {
		return fmt.Errorf("save state: give %s to the owner of %s (the service account): %w", path, dir, err)
	}
	return nil
}
