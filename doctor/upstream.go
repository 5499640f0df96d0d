package doctor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/registry"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// probeResult is what one GET to an upstream told.
type probeResult struct {
	status  int
	skew    time.Duration // server Date minus local time at mid-flight
	hasDate bool
	err     error
}

// probe GETs url and reads the Date header. Any HTTP answer, 404 included, means reachable.
func (r *run) probe(ctx context.Context, url string) probeResult {
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return probeResult{err: err}
	}
	start := r.now()
	resp, err := r.o.HTTPClient.Do(req)
	end := r.now()
	if err != nil {
		return probeResult{err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	res := probeResult{status: resp.StatusCode}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		mid := start.Add(end.Sub(start) / 2)
		// Date has whole seconds: compare with the middle of that second.
		res.skew, res.hasDate = d.Add(500*time.Millisecond).Sub(mid), true
	}
	return res
}

// checkUpstream probes Maskinporten and Altinn and measures the clock skew from their Date headers.
func (r *run) checkUpstream(ctx context.Context) {
	ep, err := r.cfg.ResolvedEndpoints()
	if err != nil {
		r.add(Finding{Check: CheckUpstream, Severity: SevError, Message: "the upstream URLs are not usable: " + err.Error(),
			Fix: "fix environment and endpoints in the config"})
		return
	}
	targets := []struct{ name, url, base string }{
		{"Maskinporten", ep.MaskinportenIssuer + ".well-known/oauth-authorization-server", ep.MaskinportenToken},
		{"Altinn", ep.Altinn + "/authentication/api/v1/openid/.well-known/openid-configuration", ep.Altinn},
	}
	var worst time.Duration
	var from string
	for _, t := range targets {
		res := r.probe(ctx, t.url)
		if res.err != nil {
			r.add(Finding{Check: CheckUpstream, Severity: SevError, Message: fmt.Sprintf("%s cannot be reached at %s: %v", t.name, t.base, res.err),
				Fix: "check the network, the firewall and any proxy (HTTPS_PROXY, NO_PROXY), and the environment and endpoints in the config" +
					sandboxHint(string(r.cfg.Environment)),
				Detail: map[string]string{"url": t.url}})
			continue
		}
		r.add(Finding{Check: CheckUpstream, Severity: SevOK, Message: fmt.Sprintf("%s answers at %s (HTTP %d)", t.name, t.base, res.status),
			Detail: map[string]string{"url": t.url, "status": fmt.Sprint(res.status)}})
		if res.hasDate && abs(res.skew) >= abs(worst) {
			worst, from = res.skew, t.name
		}
	}
	if from == "" {
		return
	}
	detail := map[string]string{"skew": worst.Round(time.Second).String(), "from": from}
	if abs(worst) > r.o.MaxSkew {
		dir := "behind"
		if worst < 0 {
			dir = "ahead of"
		}
		r.add(Finding{Check: CheckClock, Severity: SevError,
			Message: fmt.Sprintf("this host's clock is %s %s %s's (more than %s): Maskinporten refuses grants whose time is off", abs(worst).Round(time.Second), dir, from, r.o.MaxSkew),
			Fix:     clockFix(r.goos()), Detail: detail})
		return
	}
	r.add(Finding{Check: CheckClock, Severity: SevOK, Message: fmt.Sprintf("clock skew %s against %s (at most %s accepted)", worst.Round(time.Second), from, r.o.MaxSkew), Detail: detail})
}

func clockFix(goos string) string {
	switch goos {
	case "windows":
		return "enable time sync: w32tm /config /syncfromflags:domhier /update, then w32tm /resync"
	case "darwin":
		return "enable \"Set time and date automatically\" in System Settings → General → Date & Time"
	}
	return "enable NTP time sync: timedatectl set-ntp true (or start chrony/systemd-timesyncd), then check with timedatectl"
}

func sandboxHint(env string) string {
	if env == "sandbox" {
		return "; for the sandbox, start it (`agent sandbox`) and check the sandbox URL"
	}
	return ""
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// checkToken gets the organisation's own token (the registry's scopes): proof that Maskinporten knows
// the client, its key and its scopes.
func (r *run) checkToken(ctx context.Context) {
	if r.o.Tokens == nil || !r.keyOK {
		return
	}
	src, err := r.o.Tokens(ctx, r.cfg, r.ks)
	if err == nil {
		tctx, cancel := context.WithTimeout(ctx, 2*r.o.Timeout)
		_, err = src.Token(tctx, tokens.Request{Scopes: registry.Scopes()})
		cancel()
	}
	if err != nil {
		f := Finding{Check: CheckToken, Severity: SevError, Message: "Maskinporten gives no token for the organisation's client: " + err.Error(),
			Fix: "register the public key (`agent keys public`) and the scopes " + strings.Join(registry.Scopes(), ", ") + " on the Maskinporten client " + r.cfg.Maskinporten.ClientID}
		if te := tokens.AsError(err); te != nil {
			if h := te.Hint(); h != "" {
				f.Fix = h
			}
		}
		r.add(f)
		return
	}
	r.src = src
	r.add(Finding{Check: CheckToken, Severity: SevOK, Message: "Maskinporten issues the organisation's token to client " + r.cfg.Maskinporten.ClientID + " (key and scopes registered)"})
}
