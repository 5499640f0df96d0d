package keystore

import (
	"bytes"
)

// Refresh makes data (a key file, as TPM2KeyPath holds it) the key file of name from now on, in place of
// the copy systemd put in $CREDENTIALS_DIRECTORY when the service started, once it loads into this TPM
// and test-signs (D18); a key file that does not is refused and nothing changes.
func (s *TPM2) Refresh(name string, data []byte) error {
	if err := CheckName(name); err != nil {
		return err
	}
	blob, err := decodeTPMBlob(data, "the handed-over key file")
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return err
	}
	if _, err := s.check(name, blob, "the handed-over key file"); err != nil {
		return err
	}
	if s.handed == nil {
		s.handed = map[string][]byte{}
	}
	s.handed[name] = bytes.Clone(data)
	return nil
}
