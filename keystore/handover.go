package keystore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
)

// HandoverPipeName is the Windows named pipe the running service listens on for key hand-over. It is
// not under ProtectedPrefix\Administrators: the virtual service account may not create pipes there.
// Squatting is defeated instead by the CLI, which checks that the pipe's server runs as the service
// account (or LocalSystem) before sending anything; the DACL admits only SYSTEM, elevated
// administrators and the service account, and no network logons (doc.go).
const HandoverPipeName = `\\.\pipe\systemuser-agent\keys`

// HandoverEndpoint names the Windows key hand-over pipe and the one account that may serve it: the
// service's account, the same one the installer gives the service and the config ACLs grant. A zero
// Pipe means HandoverPipeName.
type HandoverEndpoint struct {
	// Pipe is the pipe's name; default HandoverPipeName.
	Pipe string
	// Account is the service account as a name (NT SERVICE\systemuser-agent, DOMAIN\gmsa$) or a SID
	// string (S-1-5-80-...). It is required: package installer owns the name (installer.ServiceAccount)
	// and keystore only receives it. The CLI sends nothing to a pipe whose owner or serving process is
	// another account.
	Account string
}

func (e HandoverEndpoint) withDefaults() HandoverEndpoint {
	if e.Pipe == "" {
		e.Pipe = HandoverPipeName
	}
	return e
}

// Hand-over wire format (doc.go): every message is one frame,
//
//	"SUAK" | version (1 byte) | header length (uint32 BE) | JSON header | payload length (uint32 BE) | payload
//
// The header never holds key material; the payload is the only place a key (PKCS#8 DER) or a digest or
// signature travels, so it can be wiped after use.
const (
	handoverMagic   = "SUAK"
	handoverVersion = 1
	maxHeader       = 4 << 10
	maxPayload      = 16 << 10
	// maxReloadPayload bounds a reload's payload: a configuration (at most 1 MiB, config.Load's bound)
	// and a key credential.
	maxReloadPayload = 1<<20 + maxPayload
)

// Hand-over operations.
const (
	opGenerate = "generate" // service generates the key itself: nothing secret crosses the pipe
	opPut      = "put"      // payload: PKCS#8 DER of the key to store
	opPublic   = "public"   // reply: the public key
	opSign     = "sign"     // payload: a SHA-256 digest; reply payload: RS256 signature
	opCopy     = "copy"     // Name → To, inside the service (rotation)
	opDelete   = "delete"
	opList     = "list"
	opReload   = "reload" // payload: the configuration (ConfigLen bytes), then the key credential; reply: KID
	opStatus   = "status" // reply: KID, the key signing now
)

// handoverRequest is a request header.
type handoverRequest struct {
	Op   string `json:"op"`
	Name string `json:"name,omitempty"`
	Bits int    `json:"bits,omitempty"`
	To   string `json:"to,omitempty"`
	// ConfigLen is how many of a reload's payload bytes are the configuration; the rest is the key
	// credential (none: the service reads its own).
	ConfigLen int `json:"config_len,omitempty"`
}

// handoverResponse is a reply header.
type handoverResponse struct {
	OK bool `json:"ok"`
	// Code classifies a failure so the client can rebuild the sentinel error (see errorCodes).
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
	// Public is the PKIX DER of the key's public half.
	Public []byte   `json:"public,omitempty"`
	Names  []string `json:"names,omitempty"`
	// KID is the kid the service signs with (reload, status).
	KID string `json:"kid,omitempty"`
}

// errorCodes maps sentinel errors to wire codes and back.
var errorCodes = []struct {
	code string
	err  error
}{
	{"not_found", ErrNotFound},
	{"exists", ErrExists},
	{"unavailable", ErrUnavailable},
	{"locked", ErrLocked},
	{"too_big", ErrTooBig},
	{"unsupported", ErrUnsupportedKey},
	{"refused", ErrReloadRefused},
}

func codeOf(err error) string {
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "error"
}

func errOfCode(code string) error {
	for _, c := range errorCodes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}

// writeFrame writes one frame: header as JSON, then payload as is.
func writeFrame(w io.Writer, header any, payload []byte) error {
	h, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("encode hand-over header: %w", err)
	}
	if len(h) > maxHeader || len(payload) > payloadLimit(header) {
		return fmt.Errorf("hand-over frame too large (header %d, payload %d bytes)", len(h), len(payload))
	}
	var pre bytes.Buffer
	pre.WriteString(handoverMagic)
	pre.WriteByte(handoverVersion)
	_ = binary.Write(&pre, binary.BigEndian, uint32(len(h)))
	pre.Write(h)
	_ = binary.Write(&pre, binary.BigEndian, uint32(len(payload)))
	if _, err := w.Write(pre.Bytes()); err != nil {
		return fmt.Errorf("send hand-over frame: %w", err)
	}
	if len(payload) > 0 {
		if _, err := w.Write(payload); err != nil {
			return fmt.Errorf("send hand-over frame: %w", err)
		}
	}
	return nil
}

// readFrame reads one frame, decoding its header into header; the caller wipes the returned payload.
func readFrame(r io.Reader, header any) ([]byte, error) {
	var pre [len(handoverMagic) + 1 + 4]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("read hand-over frame: %w", err)
	}
	if string(pre[:4]) != handoverMagic {
		return nil, errors.New("read hand-over frame: not a systemuser-agent key hand-over message")
	}
	if pre[4] != handoverVersion {
		return nil, fmt.Errorf("read hand-over frame: protocol version %d, this agent speaks %d: run the same agent version for the CLI and the service", pre[4], handoverVersion)
	}
	hl := binary.BigEndian.Uint32(pre[5:])
	if hl > maxHeader {
		return nil, fmt.Errorf("read hand-over frame: header of %d bytes exceeds %d", hl, maxHeader)
	}
	h := make([]byte, hl)
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, fmt.Errorf("read hand-over frame: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(h))
	dec.DisallowUnknownFields()
	if err := dec.Decode(header); err != nil {
		return nil, fmt.Errorf("read hand-over frame: bad header: %w", err)
	}
	var pl [4]byte
	if _, err := io.ReadFull(r, pl[:]); err != nil {
		return nil, fmt.Errorf("read hand-over frame: %w", err)
	}
	n := binary.BigEndian.Uint32(pl[:])
	if limit := payloadLimit(header); int64(n) > int64(limit) {
		return nil, fmt.Errorf("read hand-over frame: payload of %d bytes exceeds %d", n, limit)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		Wipe(payload)
		return nil, fmt.Errorf("read hand-over frame: %w", err)
	}
	return payload, nil
}

// payloadLimit is the largest payload a frame with header may carry: a reload request carries a
// configuration, everything else at most a key.
func payloadLimit(header any) int {
	if r, ok := header.(*handoverRequest); ok && r.Op == opReload {
		return maxReloadPayload
	}
	if r, ok := header.(handoverRequest); ok && r.Op == opReload {
		return maxReloadPayload
	}
	return maxPayload
}

// HandoverDialer returns the dial function of the hand-over at ep for NewRemote: on Windows it opens the
// pipe and checks its owner and server against ep.Account before anything is sent; elsewhere it fails
// with ErrUnavailable.
func HandoverDialer(ep HandoverEndpoint) func(ctx context.Context) (net.Conn, error) {
	ep = ep.withDefaults()
	return func(ctx context.Context) (net.Conn, error) { return dialHandover(ctx, ep) }
}
