package keystore

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// handoverTimeout bounds one hand-over exchange (an RSA-4096 generation included).
const handoverTimeout = 60 * time.Second

// ServeHandover serves key hand-over requests on ln against s until ctx ends, one request per
// connection. The running service calls it (on Windows with ListenHandoverAt) so that keys the CLI imports
// or generates land in the service account's own key store: every stored key is read back from s and a
// test signature verified before the CLI hears "ok" (D18). Logs name the operation, key name and outcome,
// never key material. It closes ln and returns nil when ctx ends. A reload is refused: HandoverServer
// with a Reloader serves that too.
func ServeHandover(ctx context.Context, ln net.Listener, s Store, log *slog.Logger) error {
	return (&HandoverServer{Store: s, Log: log}).Serve(ctx, ln)
}

// HandoverServer serves the hand-over protocol: key operations against Store, reload and status
// against Reloader. Either may be nil, and its operations are then refused.
type HandoverServer struct {
	// Store holds the keys the key operations work on (the Windows service's vault).
	Store Store
	// Reloader applies a reload and reports the signing key (the running token service).
	Reloader Reloader
	// Log gets one line per request (operation, key name, outcome), never key material.
	Log *slog.Logger
}

// Serve serves requests on ln, one per connection, until ctx ends; then it closes ln and returns nil.
func (h *HandoverServer) Serve(ctx context.Context, ln net.Listener) error {
	if h.Log == nil {
		h.Log = slog.New(slog.DiscardHandler)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("keystore: key hand-over listener failed: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			cctx, cancel := context.WithTimeout(ctx, handoverTimeout)
			defer cancel()
			_ = conn.SetDeadline(time.Now().Add(handoverTimeout))
			h.serveOne(cctx, conn)
		}()
	}
}

// serveOne answers one request on rw.
func (h *HandoverServer) serveOne(ctx context.Context, rw io.ReadWriter) {
	log := h.Log
	var req handoverRequest
	payload, err := readFrame(rw, &req)
	defer Wipe(payload)
	if err != nil {
		log.Warn("key hand-over: bad request", "err", err)
		_ = writeFrame(rw, handoverResponse{Code: "bad_request", Error: err.Error()}, nil)
		return
	}
	resp, out, err := h.handle(ctx, req, payload)
	defer Wipe(out)
	if err != nil {
		log.Warn("key hand-over failed", "op", req.Op, "name", req.Name, "err", err)
		resp = handoverResponse{Code: codeOf(err), Error: err.Error()}
		out = nil
	} else {
		log.Info("key hand-over done", "op", req.Op, "name", req.Name)
		resp.OK = true
	}
	if err := writeFrame(rw, resp, out); err != nil {
		log.Warn("key hand-over: reply lost", "op", req.Op, "name", req.Name, "err", err)
	}
}

// handle performs one request: reload and status against the Reloader, the rest against the Store.
func (h *HandoverServer) handle(ctx context.Context, req handoverRequest, payload []byte) (handoverResponse, []byte, error) {
	switch req.Op {
	case opReload, opStatus:
		return h.control(ctx, req, payload)
	}
	if h.Store == nil {
		return handoverResponse{}, nil, fmt.Errorf("keystore: %q is not served here: this service takes reloads only; the CLI writes its keys itself (systemd credentials, the certificate store)", req.Op)
	}
	return handle(ctx, h.Store, req, payload)
}

// handle performs one request against s.
func handle(ctx context.Context, s Store, req handoverRequest, payload []byte) (handoverResponse, []byte, error) {
	if req.Op != opList {
		if err := CheckName(req.Name); err != nil {
			return handoverResponse{}, nil, err
		}
	}
	switch req.Op {
	case opList:
		names, err := s.List(ctx)
		return handoverResponse{Names: names}, nil, err
	case opDelete:
		return handoverResponse{}, nil, s.Delete(ctx, req.Name)
	case opPublic:
		k, err := s.Signer(ctx, req.Name)
		if err != nil {
			return handoverResponse{}, nil, err
		}
		return publicResponse(k.Public())
	case opGenerate:
		k, err := s.Generate(ctx, req.Name, req.Bits)
		if err != nil {
			return handoverResponse{}, nil, err
		}
		return verifyStored(ctx, s, req.Name, k.Public())
	case opPut:
		k, err := x509.ParsePKCS8PrivateKey(payload)
		if err != nil {
			return handoverResponse{}, nil, fmt.Errorf("keystore: the handed-over key is not PKCS#8 (%v): %w", err, ErrUnsupportedKey)
		}
		rk, err := rsaKey(k)
		if err != nil {
			return handoverResponse{}, nil, err
		}
		if err := s.Put(ctx, req.Name, rk); err != nil {
			return handoverResponse{}, nil, err
		}
		return verifyStored(ctx, s, req.Name, rk.Public())
	case opCopy:
		if err := CheckName(req.To); err != nil {
			return handoverResponse{}, nil, err
		}
		k, err := s.Signer(ctx, req.Name)
		if err != nil {
			return handoverResponse{}, nil, err
		}
		if err := copyKey(ctx, s, req.Name, req.To, k); err != nil {
			return handoverResponse{}, nil, err
		}
		return verifyStored(ctx, s, req.To, k.Public())
	case opSign:
		if len(payload) != sha256.Size {
			return handoverResponse{}, nil, fmt.Errorf("keystore: a sign request carries a %d-byte SHA-256 digest, not %d bytes", sha256.Size, len(payload))
		}
		k, err := s.Signer(ctx, req.Name)
		if err != nil {
			return handoverResponse{}, nil, err
		}
		sig, err := k.Sign(rand.Reader, payload, crypto.SHA256)
		if err != nil {
			return handoverResponse{}, nil, fmt.Errorf("keystore: sign with %q: %w", req.Name, err)
		}
		return handoverResponse{}, sig, nil
	}
	return handoverResponse{}, nil, fmt.Errorf("keystore: unknown hand-over operation %q: run the same agent version for the CLI and the service", req.Op)
}

// verifyStored reads name back from s, signs a random digest with it and verifies the signature with
// want: the proof that the key the service will use is the key that was handed over (D18). On failure the
// entry is deleted.
func verifyStored(ctx context.Context, s Store, name string, want crypto.PublicKey) (handoverResponse, []byte, error) {
	err := verifySigner(ctx, s, name, want)
	if err != nil {
		_ = s.Delete(ctx, name)
		return handoverResponse{}, nil, fmt.Errorf("keystore: the key stored as %q does not read back and sign in the service's key store (%w); nothing was kept", name, err)
	}
	return publicResponse(want)
}

func verifySigner(ctx context.Context, s Store, name string, want crypto.PublicKey) error {
	k, err := s.Signer(ctx, name)
	if err != nil {
		return err
	}
	pub, ok := want.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("public key is %T, not RSA", want)
	}
	digest := sha256.Sum256([]byte(rand.Text()))
	sig, err := k.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return fmt.Errorf("test signature: %w", err)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		return errors.New("the stored key's test signature does not verify with the expected public key")
	}
	return nil
}

func publicResponse(pub crypto.PublicKey) (handoverResponse, []byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return handoverResponse{}, nil, fmt.Errorf("keystore: encode public key: %w", err)
	}
	return handoverResponse{Public: der}, nil, nil
}
