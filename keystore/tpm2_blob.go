package keystore

import (
	"encoding/asn1"
	"encoding/pem"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// tss2PEMType is the PEM type of a TPM-wrapped key in the TSS2 key file format (as written by the
// tpm2-tss-engine and the OpenSSL tpm2 provider): the key's public area and its private area encrypted
// under the parent, which only the TPM that made the key can decrypt.
const tss2PEMType = "TSS2 PRIVATE KEY"

// oidLoadableKey is the TSS2 key file type of a key loaded with TPM2_Load.
var oidLoadableKey = asn1.ObjectIdentifier{2, 23, 133, 10, 1, 3}

// tss2Key is the ASN.1 body of a TSS2 key file. Parent TPM_RH_OWNER means the primary key made in the
// owner hierarchy from the TCG ECC P-256 SRK template (srkTemplate).
type tss2Key struct {
	Type      asn1.ObjectIdentifier
	EmptyAuth bool `asn1:"explicit,tag:0,optional"`
	Parent    int64
	PubKey    []byte // TPM2B_PUBLIC
	PrivKey   []byte // TPM2B_PRIVATE (wrapped by the parent)
}

// tpmBlob is a key as the TPM returned it from TPM2_Create.
type tpmBlob struct {
	public  tpm2.TPM2BPublic
	private tpm2.TPM2BPrivate
}

// encodeTPMBlob renders b as a TSS2 key file (PEM). It holds nothing that works without this TPM.
func encodeTPMBlob(b tpmBlob) ([]byte, error) {
	der, err := asn1.Marshal(tss2Key{
		Type: oidLoadableKey, EmptyAuth: true, Parent: int64(tpm2.TPMRHOwner),
		PubKey: tpm2.Marshal(b.public), PrivKey: tpm2.Marshal(b.private),
	})
	if err != nil {
		return nil, fmt.Errorf("keystore tpm2: encode the key file: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: tss2PEMType, Bytes: der}), nil
}

// decodeTPMBlob reads a TSS2 key file made by encodeTPMBlob; where names the file for messages.
func decodeTPMBlob(data []byte, where string) (tpmBlob, error) {
	damaged := func(why string) (tpmBlob, error) {
		return tpmBlob{}, fmt.Errorf("keystore tpm2: %s is not a TPM key file made by this agent (%s): delete it and generate the key again (agent keys generate --backend tpm2)", where, why)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != tss2PEMType {
		return damaged("no \"" + tss2PEMType + "\" PEM block")
	}
	var k tss2Key
	rest, err := asn1.Unmarshal(block.Bytes, &k)
	if err != nil || len(rest) != 0 {
		return damaged("its ASN.1 is damaged")
	}
	if !k.Type.Equal(oidLoadableKey) {
		return damaged("type " + k.Type.String() + ", want a loadable key " + oidLoadableKey.String())
	}
	if k.Parent != int64(tpm2.TPMRHOwner) {
		return damaged(fmt.Sprintf("parent 0x%x, want the owner hierarchy's storage key", k.Parent))
	}
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](k.PubKey)
	if err != nil {
		return damaged("its public area does not parse")
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](k.PrivKey)
	if err != nil {
		return damaged("its private area does not parse")
	}
	return tpmBlob{public: *pub, private: *priv}, nil
}
