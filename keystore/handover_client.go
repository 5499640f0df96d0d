package keystore

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// Remote is a Store whose keys live in another process's store, reached over the key hand-over protocol
// (ServeHandover): on Windows, the admin's CLI talks to the running service through HandoverPipeName so
// keys land in the service account's Credential Manager vault. Generate runs in the service (no key
// material crosses); Put sends the key once; Signer returns a signer that asks the service to sign
// (RS256 only) and never holds the private key.
type Remote struct {
	backend string
	dial    func(ctx context.Context) (net.Conn, error)
}

// NewRemote returns a Remote that reaches the service with dial. backend is what Backend reports (the
// service's backend name, e.g. "keyring").
func NewRemote(backend string, dial func(ctx context.Context) (net.Conn, error)) *Remote {
	return &Remote{backend: backend, dial: dial}
}

// Backend implements Store.
func (r *Remote) Backend() string { return r.backend }

// call sends one request and returns the reply header and payload (the caller wipes it).
func (r *Remote) call(ctx context.Context, req handoverRequest, payload []byte) (handoverResponse, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, handoverTimeout)
	defer cancel()
	conn, err := r.dial(ctx)
	if err != nil {
		return handoverResponse{}, nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := writeFrame(conn, req, payload); err != nil {
		return handoverResponse{}, nil, fmt.Errorf("keystore: key hand-over to the service: %w", err)
	}
	var resp handoverResponse
	out, err := readFrame(conn, &resp)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("the service closed the connection: see its log (agent service status)")
		}
		return handoverResponse{}, nil, fmt.Errorf("keystore: key hand-over to the service: %w", err)
	}
	if !resp.OK {
		Wipe(out)
		what := req.Op
		if req.Name != "" {
			what += fmt.Sprintf(" %q", req.Name)
		}
		msg := fmt.Sprintf("keystore: the service refused %s: %s", what, resp.Error)
		if sentinel := errOfCode(resp.Code); sentinel != nil && strings.HasSuffix(resp.Error, sentinel.Error()) {
			return resp, nil, wrappedError{msg: fmt.Sprintf("keystore: the service refused %s: %s", what, resp.Error), err: sentinel}
		} else if sentinel != nil {
			return resp, nil, fmt.Errorf("%s: %w", msg, sentinel)
		}
		return resp, nil, errors.New(msg)
	}
	return resp, out, nil
}

// Generate implements Store: the service generates and stores the key.
func (r *Remote) Generate(ctx context.Context, name string, bits int) (crypto.Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if err := checkBits(bits); err != nil {
		return nil, err
	}
	resp, _, err := r.call(ctx, handoverRequest{Op: opGenerate, Name: name, Bits: bits}, nil)
	if err != nil {
		return nil, err
	}
	return r.signer(name, resp.Public)
}

// Put implements Store: the key's PKCS#8 DER crosses the pipe once and is wiped here.
func (r *Remote) Put(ctx context.Context, name string, key crypto.Signer) error {
	if err := CheckName(name); err != nil {
		return err
	}
	der, err := marshalDER(key)
	if err != nil {
		return err
	}
	defer Wipe(der)
	resp, _, err := r.call(ctx, handoverRequest{Op: opPut, Name: name}, der)
	if err != nil {
		return err
	}
	pub, err := x509.ParsePKIXPublicKey(resp.Public)
	if err != nil || !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
		return fmt.Errorf("keystore: the service stored %q but reports a different public key: delete it (agent keys delete) and import again", name)
	}
	return nil
}

// Signer implements Store: the returned signer signs through the service.
func (r *Remote) Signer(ctx context.Context, name string) (crypto.Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	resp, _, err := r.call(ctx, handoverRequest{Op: opPublic, Name: name}, nil)
	if err != nil {
		return nil, err
	}
	return r.signer(name, resp.Public)
}

// Copy implements Copier: the service copies the key from one name to another, so rotation works
// without the private key leaving the service.
func (r *Remote) Copy(ctx context.Context, from, to string) error {
	if err := CheckName(from); err != nil {
		return err
	}
	if err := CheckName(to); err != nil {
		return err
	}
	_, _, err := r.call(ctx, handoverRequest{Op: opCopy, Name: from, To: to}, nil)
	return err
}

// Delete implements Store.
func (r *Remote) Delete(ctx context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	_, _, err := r.call(ctx, handoverRequest{Op: opDelete, Name: name}, nil)
	return err
}

// List implements Store.
func (r *Remote) List(ctx context.Context) ([]string, error) {
	resp, _, err := r.call(ctx, handoverRequest{Op: opList}, nil)
	if err != nil {
		return nil, err
	}
	if resp.Names == nil {
		return []string{}, nil
	}
	return resp.Names, nil
}

func (r *Remote) signer(name string, pkix []byte) (crypto.Signer, error) {
	pub, err := x509.ParsePKIXPublicKey(pkix)
	if err != nil {
		return nil, fmt.Errorf("keystore: the service sent an unreadable public key for %q: %w", name, err)
	}
	rpub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("keystore: the service's key %q is %T, not RSA", name, pub)
	}
	return &remoteSigner{r: r, name: name, pub: rpub}, nil
}

// remoteSigner signs RS256 digests in the service.
type remoteSigner struct {
	r    *Remote
	name string
	pub  *rsa.PublicKey
}

func (s *remoteSigner) Public() crypto.PublicKey { return s.pub }

func (s *remoteSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, pss := opts.(*rsa.PSSOptions); pss || opts.HashFunc() != crypto.SHA256 {
		return nil, fmt.Errorf("keystore: a key held by the service signs RS256 (PKCS#1 v1.5, SHA-256) only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), handoverTimeout)
	defer cancel()
	_, sig, err := s.r.call(ctx, handoverRequest{Op: opSign, Name: s.name}, digest)
	if err != nil {
		return nil, err
	}
	if err := rsa.VerifyPKCS1v15(s.pub, crypto.SHA256, digest, sig); err != nil {
		return nil, fmt.Errorf("keystore: the service's signature with %q does not verify: its key changed; run agent keys public", s.name)
	}
	return sig, nil
}

// wrappedError is a refusal whose text already ends with its sentinel's: it wraps the sentinel without
// saying it twice.
type wrappedError struct {
	msg string
	err error
}

func (e wrappedError) Error() string { return e.msg }
func (e wrappedError) Unwrap() error { return e.err }
