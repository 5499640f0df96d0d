package agent

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the agent's Prometheus series. Labels come from fixed sets: never a client-chosen value.
type metrics struct {
	requests       *prometheus.CounterVec // by route and status code
	tokenSeconds   prometheus.Histogram   // per /oauth2/token request, how long it waited for the token source
	authFailures   *prometheus.CounterVec // by reason
	upstreamErrors *prometheus.CounterVec // by class: temporary, permanent, expired
	refused        *prometheus.CounterVec // requests refused before routing, by defence (D2, D3, D4)

	// bound are the requests counters of each route and usual status code, bound on first use so that
	// counting a request looks up no labels (and series appear only once counted, as before).
	bound [numRoutes][len(boundCodes)]atomic.Pointer[prometheus.Counter]
}

// boundCodes are the status codes whose request counters are bound; others are looked up by label.
var boundCodes = [...]int{200, 400, 401, 403, 404, 405, 413, 429, 500, 502, 503}

// requestCounter is the requests counter of route rt and status code.
func (m *metrics) requestCounter(rt route, code int) prometheus.Counter {
	for i, c := range boundCodes {
		if c != code {
			continue
		}
		if p := m.bound[rt.index][i].Load(); p != nil {
			return *p
		}
		ctr := m.requests.WithLabelValues(rt.name, strconv.Itoa(code))
		m.bound[rt.index][i].Store(&ctr)
		return ctr
	}
	return m.requests.WithLabelValues(rt.name, strconv.Itoa(code))
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "systemuser_agent_http_requests_total",
			Help: "Requests to the local API by route and status code.",
		}, []string{"route", "code"}),
		tokenSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "systemuser_agent_token_source_seconds",
			Help:    "Time token requests waited for the token source (an upstream fetch); 0 when the cache answered at once.",
			Buckets: []float64{.0001, .001, .005, .025, .1, .25, 1, 2.5, 5, 10, 30},
		}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "systemuser_agent_auth_failures_total",
			Help: "Failed or throttled client authentications by reason.",
		}, []string{"reason"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "systemuser_agent_upstream_errors_total",
			Help: "Token requests the token source could not serve, by class.",
		}, []string{"class"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "systemuser_agent_refused_requests_total",
			Help: "Requests refused before routing, by defence (D2 Host, D3 browser, D4 proxy).",
		}, []string{"defence"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.tokenSeconds, m.authFailures, m.upstreamErrors,
		m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

type status struct {
	Status   string   `json:"status"`
	Reason   string   `json:"reason,omitempty"`
	Key      *KeyInfo `json:"key,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// serveHealth is GET /healthz: the process is up.
func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request, _ *request) {
	writeJSON(w, http.StatusOK, status{Status: "ok"})
}

// serveReady is GET /readyz: no upstream problem the watchers found (a system user Maskinporten no longer
// finds, an expired key) and Options.Ready passes (bounded to 5 s), else 503 with the reasons and fixes.
// Either way it names the signing key's backend and whether the key is exportable (Options.Key), and the
// warnings (the key expires within 30 days).
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request, _ *request) {
	problems, warnings := s.readiness()
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, status{Status: "not ready", Reason: joinReasons(problems), Key: s.key, Warnings: warnings})
		return
	}
	writeJSON(w, http.StatusOK, status{Status: "ready", Key: s.key, Warnings: warnings})
}

// serveMetrics is GET /metrics in the Prometheus text format.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ *request) {
	promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}
