package terminal_test

import (
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/gatetest"
	"github.com/wsbridge/wsbridge/bridge/terminal"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newServer serves terminal sessions of argv with opts behind a gate.
func newServer(t testing.TB, opts terminal.Options, argv ...string) (*bridge.Handler, *terminal.Kind, *httptest.Server) {
	t.Helper()
	k := terminal.New(opts)
	h, srv := gatetest.Serve(t, bridge.Options{Kind: k}, argv...)
	return h, k, srv
}

func wsURL(srv *httptest.Server) string { return gatetest.URL(srv) }
