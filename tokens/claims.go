package tokens

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// UnverifiedClaims decodes a JWT's payload for display only (no verification); nil when it is not a JWT.
func UnverifiedClaims(raw string) map[string]any {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}
