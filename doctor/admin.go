package doctor

import (
	"context"
	"errors"
	"fmt"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// CheckAdmin is the check of the self-service (admin) client's key, when one is configured.
const CheckAdmin = "admin"

// checkAdmin reads the admin client's key (maskinporten.admin.key) without sending anything: it is there;
// with grant_header x5c (the default, Digdir's rule) its enterprise certificate chain is stored with it
// and not expired or about to; grant_header kid is a warning, since the self-service API takes only
// certificate-authenticated admin clients.
func (r *run) checkAdmin(ctx context.Context) {
	if r.o.OpenKeyStore == nil || !r.cfg.Maskinporten.HasAdmin() {
		return
	}
	a := r.cfg.Maskinporten.Admin
	importCmd := "`agent keys import --backend " + a.Key.Backend
	if a.Key.Path != "" {
		importCmd += " --path " + a.Key.Path
	}
	importCmd += " --name " + a.Key.Name + " --file virksomhetssertifikat.p12`"
	as := *r.cfg
	as.Maskinporten.Key = a.Key
	ks, err := r.o.OpenKeyStore(&as)
	if err != nil {
		r.add(Finding{Check: CheckAdmin, Severity: SevError, Message: fmt.Sprintf("the admin client's key store (%s) cannot be opened: %v", a.Key.Backend, err),
			Fix: "fix maskinporten.admin.key, or remove maskinporten.admin and upload the keys by hand (`agent keys upload` prints them)"})
		return
	}
	defer keystore.Close(ks)
	signer, err := ks.Signer(ctx, a.Key.Name)
	switch {
	case errors.Is(err, keystore.ErrNotFound):
		r.add(Finding{Check: CheckAdmin, Severity: SevError, Message: fmt.Sprintf("there is no admin client key %q in the %s key store (maskinporten.admin.key)", a.Key.Name, ks.Backend()),
			Fix: "import the organisation's enterprise certificate with its key: " + importCmd})
		return
	case err != nil:
		r.add(Finding{Check: CheckAdmin, Severity: SevError, Message: fmt.Sprintf("the admin client's key %q cannot be read: %v", a.Key.Name, err),
			Fix: "fix maskinporten.admin.key, or import the enterprise certificate again: " + importCmd})
		return
	}
	x5c := a.Header() == config.GrantHeaderX5C
	r.add(Finding{Check: CheckAdmin, Severity: SevOK, Message: fmt.Sprintf("the admin client %s's key %q is readable from the %s key store; `agent keys upload` posts the key set with it",
		a.ClientID, a.Key.Name, ks.Backend()), Detail: map[string]string{"client_id": a.ClientID, "grant_header": a.Header()}})
	if !x5c {
		r.add(Finding{Check: CheckAdmin, Severity: SevWarning,
			Message: "the admin client signs with a registered key (maskinporten.admin.grant_header kid); Digdir requires the self-service client to use the enterprise certificate, and the self-service API may refuse its token (403 access_denied)",
			Fix:     "import the enterprise certificate with its key (" + importCmd + " after deleting the old key), remove grant_header and kid from maskinporten.admin, and remove the registered key from the admin client"})
	}
	r.checkChain(signer, certCheck{check: CheckAdmin, whose: "admin client's ", x5c: x5c,
		noChainFix: "nothing can be uploaded with it: delete the key and import the enterprise certificate with its key and chain from its PKCS#12 file: " + importCmd,
		renewed:    "import it with its key (" + importCmd + " after deleting the old key)"})
}
