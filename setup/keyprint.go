package setup

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"

	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// writeIndented writes v as indented JSON, the CLI's --json form.
func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteKeyList prints the keys of ks ("agent keys list"): one line each with size and kid (the configured
// kid for activeName, else the RFC 7638 thumbprint), or JSON.
func WriteKeyList(ctx context.Context, w io.Writer, ks keystore.Store, activeName, kid string, asJSON bool) error {
	entries, err := ListKeys(ctx, ks, activeName, kid)
	if err != nil {
		return err
	}
	if asJSON {
		return writeIndented(w, map[string]any{"backend": ks.Backend(), "keys": entries})
	}
	if len(entries) == 0 {
		_, err := fmt.Fprintf(w, "No keys in the %s key store. Make one with: agent keys generate\n", ks.Backend())
		return err
	}
	for _, en := range entries {
		if en.Error != "" {
			fmt.Fprintf(w, "%-28s unreadable: %s\n", en.Name, en.Error)
			continue
		}
		fmt.Fprintf(w, "%-28s RSA-%d  kid %s\n", en.Name, en.Bits, en.KID)
	}
	return nil
}

// WritePublicKey prints the public half of key name ("agent keys public"): its JWK (with kid), the
// KeyInfo as JSON, or PEM.
func WritePublicKey(ctx context.Context, w io.Writer, ks keystore.Store, name, kid string, asJSON, asPEM bool) error {
	k, err := ks.Signer(ctx, name)
	if err != nil {
		return err
	}
	if asPEM {
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			return err
		}
		_, err = w.Write(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		return err
	}
	info, err := DescribeKey(ks.Backend(), name, k, kid)
	if err != nil {
		return err
	}
	if asJSON {
		return writeIndented(w, info)
	}
	return writeIndented(w, info.JWK)
}
