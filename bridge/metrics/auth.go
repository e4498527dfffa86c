package metrics

import (
	vm "github.com/VictoriaMetrics/metrics"
)

// AuthCounters count what authentication refuses, by method and reason
// (wsbridge_handshakes_refused_total{reason="auth"} counts them all), and
// the JWK Set fetches of --jwks-url after the first.
type AuthCounters struct {
	set       *vm.Set
	fetchOK   *vm.Counter
	fetchFail *vm.Counter
}

func newAuthCounters(s *vm.Set) *AuthCounters {
	return &AuthCounters{
		set:       s,
		fetchOK:   s.NewCounter(`wsbridge_jwks_fetches_total{result="ok"}`),
		fetchFail: s.NewCounter(`wsbridge_jwks_fetches_total{result="error"}`),
	}
}

// Refused counts a request refused by authentication: method is proxy,
// jwt, basic or "" (no credentials presented), reason one of a fixed set
// of short words (expired, bad_signature, audience...).
func (a *AuthCounters) Refused(method, reason string) {
	if method == "" {
		method = "none"
	}
	a.set.GetOrCreateCounter(`wsbridge_auth_refused_total{method="` + method + `",reason="` + reason + `"}`).Inc()
}

// JWKSFetch counts a fetch of the JWK Set: err nil for a success.
func (a *AuthCounters) JWKSFetch(err error) {
	if err != nil {
		a.fetchFail.Inc()
		return
	}
	a.fetchOK.Inc()
}
