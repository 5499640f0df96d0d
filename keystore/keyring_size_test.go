package keystore

import (
	"context"
	"encoding/pem"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// TestKeyringBlobSizes measures the encoded size of each RSA size and checks it against every
// platform's per-entry limit: Windows Credential Manager 2560 bytes, the macOS "security -i" command line
// 4096 bytes (go-keyring base64-encodes again there), Linux Secret Service none.
func TestKeyringBlobSizes(t *testing.T) {
	want := map[string]map[int]bool{ // goos → bits → fits
		"windows": {2048: true, 3072: true, 4096: false},
		"darwin":  {2048: true, 3072: true, 4096: false},
		"linux":   {2048: true, 3072: true, 4096: true},
	}
	for _, bits := range []int{2048, 3072, 4096} {
		k := rsaTestKey(t, bits)
		blob, err := keyringBlob(k)
		if err != nil {
			t.Fatal(err)
		}
		der := pkcs8DER(t, k)
		pemLen := len(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		t.Logf("RSA-%d: PKCS#8 DER %d B, base64 (keyring entry) %d B, PEM %d B", bits, len(der), len(blob), pemLen)
		for goos, byBits := range want {
			fits := byBits[bits]
			err := keyringFits(goos, DefaultService, "maskinporten-previous", len(blob), keyKind(k))
			if fits && err != nil {
				t.Errorf("%s RSA-%d refused: %v", goos, bits, err)
			}
			if !fits {
				if !errors.Is(err, ErrTooBig) {
					t.Errorf("%s RSA-%d: got %v, want ErrTooBig", goos, bits, err)
					continue
				}
				for _, part := range []string{"RSA-" + strconv.Itoa(bits), strconv.Itoa(len(blob)), "RSA-2048"} {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("%s: message %q does not name %q", goos, err, part)
					}
				}
			}
		}
	}
	if err := keyringFits("windows", DefaultService, "k", WindowsBlobLimit, "x"); err != nil {
		t.Errorf("exactly %d bytes refused: %v", WindowsBlobLimit, err)
	}
	if err := keyringFits("windows", DefaultService, "k", WindowsBlobLimit+1, "x"); !errors.Is(err, ErrTooBig) {
		t.Errorf("%d bytes accepted", WindowsBlobLimit+1)
	}
}

// TestKeyringPutRefusesTooBigBeforeWriting runs Put as it would on Windows: an RSA-4096 key is refused by
// the size check, before the OS key store is touched (no D-Bus is needed for this test).
func TestKeyringPutRefusesTooBigBeforeWriting(t *testing.T) {
	k := &Keyring{service: "systemuser-agent-size-test", goos: "windows"}
	err := k.Put(context.Background(), "maskinporten", rsaTestKey(t, 4096))
	if !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), "2560") || !strings.Contains(err.Error(), "Windows Credential Manager") {
		t.Fatalf("got %v; want ErrTooBig naming the 2560-byte Windows limit", err)
	}
}
