//go:build windows

package keystore

import (
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/google/certtostore"
	"golang.org/x/sys/windows"
)

// hcceLocalMachine is HCCE_LOCAL_MACHINE: build chains with the machine's chain engine.
const hcceLocalMachine = windows.Handle(1)

// ncryptAllowExport is NCRYPT_ALLOW_EXPORT_FLAG in a key's "Export Policy" property (plaintext export,
// 0x2, implies it for our purpose).
const ncryptAllowExport = 0x1 | 0x2

var (
	ncryptDLL         = windows.NewLazySystemDLL("ncrypt.dll")
	nCryptGetProperty = ncryptDLL.NewProc("NCryptGetProperty")
)

// openWindowsCert finds the certificate with SHA-1 thumbprint thumb in LocalMachine\My, builds its
// chain with the machine's chain engine, and acquires its private key through CNG (certtostore). The
// certificate context is kept for the life of the process: the cached key handle lives with it.
func openWindowsCert(thumb []byte) (*certSigner, error) {
	my, err := windows.UTF16PtrFromString("MY")
	if err != nil {
		return nil, err
	}
	store, err := windows.CertOpenStore(windows.CERT_STORE_PROV_SYSTEM, 0, 0,
		windows.CERT_SYSTEM_STORE_LOCAL_MACHINE|windows.CERT_STORE_READONLY_FLAG|windows.CERT_STORE_OPEN_EXISTING_FLAG, uintptr(unsafe.Pointer(my)))
	if err != nil {
		return nil, fmt.Errorf("keystore windows-cert: open the LocalMachine\\My certificate store: %v: %w", err, ErrUnavailable)
	}
	defer windows.CertCloseStore(store, 0) // the store stays open while a context of it lives
	blob := windows.CryptHashBlob{Size: uint32(len(thumb)), Data: &thumb[0]}
	ctx, err := windows.CertFindCertificateInStore(store, windows.X509_ASN_ENCODING|windows.PKCS_7_ASN_ENCODING, 0,
		windows.CERT_FIND_HASH, unsafe.Pointer(&blob), nil)
	if err != nil || ctx == nil {
		return nil, fmt.Errorf("keystore windows-cert: no certificate with thumbprint %X in LocalMachine\\My (%v): check the thumbprint (certlm.msc → Personal → Certificates → the certificate → Details → Thumbprint), or import the enterprise certificate there: %w", thumb, err, ErrNotFound)
	}
	chain, err := windowsChain(ctx, store)
	if err != nil {
		windows.CertFreeCertificateContext(ctx)
		return nil, err
	}
	wcs, err := certtostore.OpenWinCertStoreWithOptions(certtostore.WinCertStoreOptions{
		Provider: certtostore.ProviderMSSoftware, StoreFlags: certtostore.CertStoreReadOnly})
	if err != nil {
		windows.CertFreeCertificateContext(ctx)
		return nil, fmt.Errorf("keystore windows-cert: open CNG: %v: %w", err, ErrUnavailable)
	}
	key, err := wcs.CertKey(ctx)
	if err != nil || key == nil {
		windows.CertFreeCertificateContext(ctx)
		return nil, fmt.Errorf("keystore windows-cert: the certificate %X has no private key this account may use (%v): import it with its key (the PKCS#12 file), and give the service account read access to the key (certlm.msc → the certificate → All Tasks → Manage Private Keys → add NT SERVICE\\systemuser-agent with Read)", thumb, err)
	}
	exportable, provider := keyPolicy(key.TransientTpmHandle())
	return newCertSigner(key, chain, thumb, exportable, provider)
}

// windowsChain returns the first chain Windows builds for ctx, leaf first.
func windowsChain(ctx *windows.CertContext, store windows.Handle) ([]*x509.Certificate, error) {
	var para windows.CertChainPara
	para.Size = uint32(unsafe.Sizeof(para))
	var chainCtx *windows.CertChainContext
	if err := windows.CertGetCertificateChain(hcceLocalMachine, ctx, nil, store, &para, 0, 0, &chainCtx); err != nil {
		return nil, fmt.Errorf("keystore windows-cert: build the certificate chain: %w", err)
	}
	defer windows.CertFreeCertificateChain(chainCtx)
	if chainCtx.ChainCount == 0 {
		return nil, fmt.Errorf("keystore windows-cert: Windows built no chain for the certificate: import its intermediate CA certificate into LocalMachine\\CA")
	}
	simple := unsafe.Slice(chainCtx.Chains, chainCtx.ChainCount)[0]
	var chain []*x509.Certificate
	for _, el := range unsafe.Slice(simple.Elements, simple.NumElements) {
		der := unsafe.Slice(el.CertContext.EncodedCert, el.CertContext.Length)
		c, err := x509.ParseCertificate(append([]byte(nil), der...))
		if err != nil {
			return nil, fmt.Errorf("keystore windows-cert: a certificate of the chain does not parse: %w", err)
		}
		chain = append(chain, c)
	}
	return chain, nil
}

// keyPolicy reads a CNG key's export policy (NCRYPT_EXPORT_POLICY_PROPERTY); unknown counts as
// exportable.
func keyPolicy(kh uintptr) (exportable bool, provider string) {
	exportable = true
	if b, ok := ncryptProperty(kh, "Export Policy"); ok && len(b) >= 4 {
		exportable = binary.LittleEndian.Uint32(b)&ncryptAllowExport != 0
	}
	return exportable, "CNG"
}

// ncryptProperty reads one property of a CNG object.
func ncryptProperty(h uintptr, name string) ([]byte, bool) {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, false
	}
	var size uint32
	if r, _, _ := nCryptGetProperty.Call(h, uintptr(unsafe.Pointer(p)), 0, 0, uintptr(unsafe.Pointer(&size)), 0); r != 0 || size == 0 {
		return nil, false
	}
	buf := make([]byte, size)
	if r, _, _ := nCryptGetProperty.Call(h, uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&buf[0])), uintptr(size), uintptr(unsafe.Pointer(&size)), 0); r != 0 {
		return nil, false
	}
	return buf[:size], true
}
