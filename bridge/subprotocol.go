package bridge

import (
	"net/http"
	"strings"
)

// offeredSubprotocols lists the subprotocols a client offers in
// Sec-WebSocket-Protocol, in its order.
func offeredSubprotocols(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// subprotocol picks the first of the server's subprotocols (--subprotocol,
// in the order given) that the client offers; the client's order does not
// matter. coder/websocket's Accept walks the server's list first too, so the
// one announced in the handshake is the same. A client that offers none gets
// "" and ok; a client that offers only unknown ones gets ok == false: a
// browser would otherwise fail the handshake with an obscure error, since
// the server cannot answer with a subprotocol it was not offered.
func (h *Handler) subprotocol(r *http.Request) (proto string, ok bool) {
	offered := offeredSubprotocols(r)
	if len(offered) == 0 {
		return "", true
	}
	for _, sp := range h.opts.Subprotocols {
		for _, cp := range offered {
			if strings.EqualFold(sp, cp) {
				return cp, true
			}
		}
	}
	return "", false
}

// refuseSubprotocol answers a client whose subprotocols are all unknown.
func (h *Handler) refuseSubprotocol(w http.ResponseWriter, r *http.Request) {
	offered := offeredSubprotocols(r)
	h.log.Log(r.Context(), LevelAccess, "refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", "subprotocol", "offered", offered)
	msg := "400 Bad Request: none of the offered WebSocket subprotocols is supported"
	if len(h.opts.Subprotocols) == 0 {
		msg += "; this server speaks no subprotocol: connect without one"
	} else {
		msg += "; this server speaks: " + strings.Join(h.opts.Subprotocols, ", ")
	}
	http.Error(w, msg, http.StatusBadRequest)
}
