package sandbox

import "net/http"

// maskinporten is the Maskinporten half of the sandbox. STUB: the Maskinporten owner replaces this file.
type maskinporten struct{ s *Sandbox }

func newMaskinporten(s *Sandbox) *maskinporten { return &maskinporten{s: s} }

func (m *maskinporten) routes(mux *http.ServeMux) {}
