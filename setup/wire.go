package setup

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/registry"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// New wires the onboarding steps for cfg: the registry talks to cfg's Altinn with src (the
// organisation's own token, no system user), the key step reads cfg's key from ks, and the token step
// gets system-user tokens from src. httpClient nil means the hardened upstream client of package tokens.
// `agent system`, `agent request`, `agent setup` and `agent demo` all use it.
func New(cfg *config.Config, stateDir string, ks keystore.Store, src tokens.Source, httpClient *http.Client,
	events func(Event)) (*Setup, error) {
	if cfg == nil || ks == nil || src == nil {
		return nil, errors.New("setup.New: config, key store and token source are required (a bug in the caller)")
	}
	ep, err := cfg.ResolvedEndpoints()
	if err != nil {
		return nil, err
	}
	if httpClient == nil {
		httpClient = tokens.NewHTTPClient(tokens.HTTPOptions{})
	}
	keyName := cfg.Maskinporten.Key.Name
	return &Setup{
		Config:   cfg,
		StateDir: stateDir,
		Registry: &registry.Client{BaseURL: ep.Altinn, HTTPClient: httpClient, Tokens: src},
		Tokens:   src,
		Signer: func(ctx context.Context) (crypto.Signer, error) {
			s, err := ks.Signer(ctx, keyName)
			if errors.Is(err, keystore.ErrNotFound) {
				return nil, fmt.Errorf("no key %q in the %s key store: run `agent keys generate` or `agent keys import` first: %w",
					keyName, ks.Backend(), err)
			}
			return s, err
		},
		Events: events,
	}, nil
}

// SystemView is the system as Altinn's System Register has it, as `agent system show` prints it.
type SystemView struct {
	ID                  string            `json:"id"`
	VendorOrg           string            `json:"vendor_org"`
	Name                map[string]string `json:"name"`
	Description         map[string]string `json:"description"`
	Rights              []string          `json:"rights"`
	AccessPackages      []string          `json:"access_packages"`
	ClientIDs           []string          `json:"client_ids"`
	AllowedRedirectURLs []string          `json:"allowed_redirect_urls,omitempty"`
	Visible             bool              `json:"visible"`
	Deleted             bool              `json:"deleted"`
}

// ShowSystem reads the configured system from Altinn's System Register.
func (s *Setup) ShowSystem(ctx context.Context) (SystemView, error) {
	sys, err := s.Registry.GetSystem(ctx, s.Config.System.ID)
	if errors.Is(err, registry.ErrNotFound) {
		return SystemView{}, fmt.Errorf("system %s is not in Altinn's System Register: run `agent system register`", s.Config.System.ID)
	}
	if err != nil {
		return SystemView{}, err
	}
	return systemViewOf(sys), nil
}

func systemViewOf(s *registry.System) SystemView {
	v := SystemView{ID: s.ID, VendorOrg: s.VendorOrg, Name: s.Name, Description: s.Description,
		Rights: []string{}, AccessPackages: append([]string{}, s.AccessPackages...), ClientIDs: append([]string{}, s.ClientIDs...),
		AllowedRedirectURLs: s.AllowedRedirectURLs, Visible: s.IsVisible, Deleted: s.IsDeleted}
	for _, r := range s.Rights {
		var parts []string
		for _, a := range r.Resource {
			if a.ID == "urn:altinn:resource" {
				parts = append(parts, a.Value)
			} else {
				parts = append(parts, a.ID+"="+a.Value)
			}
		}
		txt := strings.Join(parts, ",")
		if r.Action != "" {
			txt += " (" + r.Action + ")"
		}
		v.Rights = append(v.Rights, txt)
	}
	return v
}

// ScratchDir makes a private (0700) directory for a throwaway run's state (`agent demo`); remove deletes
// it and everything in it.
func ScratchDir() (dir string, remove func(), err error) {
	dir, err = os.MkdirTemp("", "systemuser-agent-demo-")
	if err != nil {
		return "", nil, fmt.Errorf("make a scratch directory: %w", err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}
