package bridge

import (
	"net/http"
	"strings"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// subprotocol picks the first of the server's subprotocols (--subprotocol,
// in the order given) that the client offers; the client's order does not
// matter. coder/websocket's Accept walks the server's list first too, so the
// one announced in the handshake is the same. A client that offers none gets
// ""; a client that offers only unknown ones gets a refusal (400): a
// browser would otherwise fail the handshake with an obscure error, since
// the server cannot answer with a subprotocol it was not offered.
func (h *Handler) subprotocol(r *http.Request) (string, error) {
	offered := session.OfferedSubprotocols(r)
	if len(offered) == 0 {
		return "", nil
	}
	for _, sp := range h.opts.Subprotocols {
		for _, cp := range offered {
			if strings.EqualFold(sp, cp) {
				return cp, nil
			}
		}
	}
	return "", h.subprotocolRefusal(offered)
}

// subprotocolRefusal answers a client whose subprotocols are all unknown.
func (h *Handler) subprotocolRefusal(offered []string) *session.Refusal {
	msg := "400 Bad Request: none of the offered WebSocket subprotocols is supported"
	if len(h.opts.Subprotocols) == 0 {
		msg += "; this server speaks no subprotocol: connect without one"
	} else {
		msg += "; this server speaks: " + strings.Join(h.opts.Subprotocols, ", ")
	}
	return &session.Refusal{
		Status: http.StatusBadRequest, Message: msg,
		Reason: "subprotocol", Attrs: []any{"offered", offered},
		Counted: session.RefusedBadRequest,
	}
}
