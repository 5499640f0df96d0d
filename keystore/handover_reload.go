package keystore

import (
	"context"
	"errors"
	"fmt"
)

// ErrReloadRefused means the running service refused a reload (a broken configuration, an unreadable
// key): it keeps serving with what it had, and the error says why.
var ErrReloadRefused = errors.New("the service refused the reload and keeps serving with its current configuration and key")

// Reloader is the running token service as the hand-over's reload and status requests see it.
type Reloader interface {
	// Reload applies a new configuration and key credential and returns the kid that signs from now
	// on. A nil config means the service reads its own configuration file, a nil key its own key store
	// (Windows: the service's vault holds the key). An error leaves everything as it was; it should wrap
	// ErrReloadRefused when the input was refused.
	Reload(ctx context.Context, config, key []byte) (kid string, err error)
	// KeyID is the kid the service signs with now.
	KeyID() string
}

// control answers reload and status.
func (h *HandoverServer) control(ctx context.Context, req handoverRequest, payload []byte) (handoverResponse, []byte, error) {
	if h.Reloader == nil {
		return handoverResponse{}, nil, fmt.Errorf("keystore: %q is not served here: the service that owns this pipe does not serve tokens", req.Op)
	}
	if req.Op == opStatus {
		return handoverResponse{KID: h.Reloader.KeyID()}, nil, nil
	}
	if req.ConfigLen < 0 || req.ConfigLen > len(payload) {
		return handoverResponse{}, nil, fmt.Errorf("keystore: a reload names %d configuration bytes of a %d-byte payload", req.ConfigLen, len(payload))
	}
	var cfg, key []byte
	if req.ConfigLen > 0 {
		cfg = payload[:req.ConfigLen]
	}
	if len(payload) > req.ConfigLen {
		key = payload[req.ConfigLen:]
	}
	kid, err := h.Reloader.Reload(ctx, cfg, key)
	if err != nil {
		return handoverResponse{}, nil, err
	}
	return handoverResponse{KID: kid}, nil, nil
}

// Reload asks the service behind r to reload: config (nil: it re-reads its own file) and key, the
// credential the service's key store holds for its key (nil: it reads its own store). It returns the
// kid the service signs with afterwards; a refusal wraps ErrReloadRefused and says why. key travels
// in the payload only and is not kept.
func (r *Remote) Reload(ctx context.Context, config, key []byte) (string, error) {
	payload := make([]byte, 0, len(config)+len(key))
	payload = append(append(payload, config...), key...)
	defer Wipe(payload)
	resp, _, err := r.call(ctx, handoverRequest{Op: opReload, ConfigLen: len(config)}, payload)
	if err != nil {
		return "", err
	}
	return resp.KID, nil
}

// KeyID asks the service behind r which kid it signs with now.
func (r *Remote) KeyID(ctx context.Context) (string, error) {
	resp, _, err := r.call(ctx, handoverRequest{Op: opStatus}, nil)
	if err != nil {
		return "", err
	}
	return resp.KID, nil
}
