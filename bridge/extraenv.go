package bridge

import "net/http"

// ExtraEnv returns the variables WithEnv attached to r, in order, for
// middleware that wants to see what an earlier one set (and for tests).
func ExtraEnv(r *http.Request) []string {
	extra, _ := r.Context().Value(extraEnvKey{}).([]string)
	return append([]string(nil), extra...)
}
