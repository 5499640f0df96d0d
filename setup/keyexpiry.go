package setup

import (
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// KeyExpiry is the recorded expiry of key kid (state file), zero when none is recorded or the state
// cannot be read (the service then just does not warn ahead).
func KeyExpiry(stateDir, kid string) time.Time {
	st, err := config.LoadState(stateDir)
	if err != nil {
		return time.Time{}
	}
	return st.Keys[kid].Expires
}

// RecordKeyExpiry saves when key kid was uploaded and when it expires, and where that came from
// ("confirmed": a person uploaded it, expiry = upload + one year; "self-service": read back from the API).
func RecordKeyExpiry(stateDir, kid string, uploaded, expires time.Time, source string) error {
	st, err := config.LoadState(stateDir)
	if err != nil {
		return err
	}
	if st.Keys == nil {
		st.Keys = map[string]config.KeyState{}
	}
	st.Keys[kid] = config.KeyState{Uploaded: uploaded.UTC(), Expires: expires.UTC(), Source: source}
	return config.SaveState(stateDir, st)
}
