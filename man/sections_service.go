package man

const manSectionSignals = `.SH SIGNALS
.TP
.BR \%SIGTERM ", " \%SIGINT
Shut down: stop accepting connections (an upgrade request already being read
gets 503), then end every session.
Each program gets its kill sequence; whatever it writes in the meantime still
reaches its client, which is then closed with code 1001 (going away).
\%wsbridge waits up to
.B \%\-\-shutdown\-timeout
(10 seconds by default), kills what is left, and exits with status 0.
A second \%SIGTERM or \%SIGINT kills the remaining sessions at once.
.TP
.B \%SIGHUP
Reload without dropping a session: the configuration file's reloadable
settings (see CONFIGURATION FILE) and, with \fB\-\-ssl\fR, the certificate,
key and \fB\-\-sslca\fR files, which new connections then use.
A part that fails to reload keeps its previous state.
Each change is logged.
`

const manSectionSystemd = `.SH SYSTEMD
On Linux, \%wsbridge runs as a
.B Type=notify
service: it sends READY=1 once it listens, RELOADING=1 and READY=1 around a
reload, STOPPING=1 when it shuts down, and a STATUS= line naming its
addresses.
With
.BR WatchdogSec= ,
it pings the watchdog at half that interval.
Elsewhere (macOS, FreeBSD, Windows) none of this is built in: no sockets are
taken over and nothing is notified.
.PP
With socket activation (a .socket unit, or
.BR systemd\-socket\-activate (1)),
\%wsbridge serves on the sockets it is handed and opens none of its own
.RB ( \%\-\-port ,
.BR \%\-\-address ,
.B \%\-\-unixsocket
and
.B \%\-\-redirport
are not used, and a warning names those that are set); with \fB\-\-ssl\fR
they serve TLS.
A socket whose
.B FileDescriptorName=
is
.B metrics
serves /metrics, /healthz and /readyz, like
.BR \%\-\-metrics\-address ;
every other socket serves WebSockets.
To try it without a unit:
.PP
.RS 4
.nf
systemd\-socket\-activate \-l 127.0.0.1:8080 wsbridge cat
.fi
.RE
.PP
Hardened example units (DynamicUser, ProtectSystem=strict, NoNewPrivileges,
an empty capability set, KillMode=mixed so that \%wsbridge runs each child's
kill sequence itself) are in examples/systemd in the source.
`

const manSectionProxies = `.SH REVERSE PROXIES
Behind nginx, HAProxy or a load balancer, the peer \%wsbridge sees is the proxy.
.B \%\-\-trusted\-proxy=\c
.I CIDR
(repeatable) names the proxies to believe.
For a request from one of them, the client's address for REMOTE_ADDR (and
REMOTE_HOST, REMOTE_PORT and the access log) comes from the
.B Forwarded
header (RFC 7239) or else
.BR X\-Forwarded\-For :
the nearest address in the chain that is not itself a trusted proxy.
.B X\-Forwarded\-Proto: https
(or proto=https) sets HTTPS=on, and the same\-origin check
.RB ( \%\-\-sameorigin ,
.BR \%\-\-terminal )
then takes an https:// page as this server's.
The proxy should pass the Host header the browser sent, port included.
From any other peer these headers change nothing.
By default no one is trusted.
.PP
The proxy must pass the upgrade on (HTTP/1.1 with the Upgrade and Connection
headers) and must not time out quiet connections sooner than
.BR \%\-\-pingms .
Pipe sessions keep no state between connections, so several instances behind
one proxy can share the load without sticky sessions.
A
.B \%\-\-terminal
session with
.B \%\-\-reconnect
or
.B \%\-\-shared
lives in one process: pin its clients to one instance (by endpoint for
.BR \%\-\-shared ,
by client address for
.BR \%\-\-reconnect ).
An nginx example is in examples/nginx in the source.
`

const manSectionMetrics = `.SH METRICS
.B \%\-\-metrics\-address=\c
.I HOST:PORT
(or a socket named
.B metrics
passed by systemd) opens a second listener, never the public port, which
serves:
.TP
.B /metrics
Prometheus text format:
.RS
.TP
.B wsbridge_sessions_active
sessions running now (gauge)
.TP
.B wsbridge_sessions_total
sessions started
.TP
.BR wsbridge_handshakes_refused_total { reason }
requests answered without a session, by reason: origin, auth, maxforks,
not_found, bad_request, shutting_down, max_clients, token, fds (file
descriptors short)
.TP
.BR wsbridge_messages_total { direction } ", " wsbridge_bytes_total { direction }
WebSocket messages and payload bytes from clients
.RB ( in )
and to them
.RB ( out ),
counted when a session ends
.TP
.BR wsbridge_child_exits_total { close_code }
sessions ended, by the close code the server sent: 1000 (exit status 0), 4xxx
(exit status 1\(en255), 1011 (killed by a signal), 1001 (server shutting
down), or the protocol error that ended the session first (1002, 1003, 1007, 1009)
.TP
.B wsbridge_spawn_failures_total
programs that could not be started
.TP
.B wsbridge_session_duration_seconds
histogram of session lengths
.TP
.BR wsbridge_broadcast_groups ", " wsbridge_broadcast_clients
with \fB\-\-broadcast\fR: groups running and clients attached now (gauges)
.TP
.BR wsbridge_broadcast_slow_closes_total ", " wsbridge_broadcast_restarts_total
clients closed with 1013 as too slow, and programs started again (\fB\-\-restart\fR)
.TP
.BR wsbridge_broadcast_messages_total { direction }
client messages into the programs
.RB ( in ),
output messages
.RB ( out ),
and output messages handed to clients
.RB ( delivered )
.TP
.BR wsbridge_build_info { version } ", " process_* ", " go_*
the running binary and process
.RE
.TP
.B /healthz
200 while the process serves HTTP.
.TP
.B /readyz
200 while \%wsbridge is listening, not shutting down, below
.B \%\-\-maxforks
and not short of file descriptors;
503 otherwise, so a load balancer sends new sessions elsewhere.
`

const manSectionExitStatus = `.SH EXIT STATUS
.TP
.B 0
Shut down after \fBSIGINT\fR or \fBSIGTERM\fR; or \fB\-\-help\fR or
\fB\-\-version\fR.
.TP
.B 1
Bad configuration:
.I COMMAND
cannot be found or is not executable; the configuration file cannot be read,
does not parse, or has an unknown key or a value of the wrong type; a
\fB\-\-dir\fR, \fB\-\-staticdir\fR or \fB\-\-cgidir\fR folder, a TLS file or
a credential file cannot be used.
.TP
.B 2
Bad flags or values (from the command line, the environment or the file),
flags that cannot be combined, or a missing
.IR COMMAND .
.TP
.B 3
Cannot listen on an address or port (\fB\-\-metrics\-address\fR included), a
socket passed by systemd cannot be used, or serving fails later.
`

const manSectionExamples = `.SH EXAMPLES
Count to ten for every client, then close with 1000:
.PP
.RS 4
.nf
wsbridge \-\-port=8080 \-\-address=127.0.0.1 ./examples/count.sh
.fi
.RE
.PP
Try it from a shell with Debian's python3\-websockets:
.PP
.RS 4
.nf
python3 \-m websockets ws://localhost:8080/
.fi
.RE
.PP
Arguments after the command are the command's own:
.PP
.RS 4
.nf
wsbridge \-\-port=8080 ./examples/chat.js \-\-room lobby
.fi
.RE
.PP
Echo raw bytes back:
.PP
.RS 4
.nf
wsbridge \-\-port=8080 \-\-binary cat
.fi
.RE
.PP
Serve pages and the WebSocket scripts beside them, over TLS:
.PP
.RS 4
.nf
wsbridge \-\-ssl \-\-sslcert=cert.pem \-\-sslkey=key.pem \-\-redirport=80 \e
    \-\-dir=www \-\-staticdir=www
.fi
.RE
.PP
Run under systemd socket activation, from the command line:
.PP
.RS 4
.nf
systemd\-socket\-activate \-l 127.0.0.1:8080 wsbridge cat
.fi
.RE
.PP
Everything in a file, with metrics on a local port, behind nginx:
.PP
.RS 4
.nf
wsbridge \-\-config=/etc/wsbridge/wsbridge.toml \e
    \-\-metrics\-address=127.0.0.1:9180 \-\-trusted\-proxy=127.0.0.1/32
.fi
.RE
.PP
Apply a new
.B maxforks
from the file without dropping sessions:
.PP
.RS 4
.nf
systemctl reload wsbridge    # or: kill \-HUP $(pidof wsbridge)
.fi
.RE
`

const manSectionSeeAlso = `.SH SEE ALSO
.BR websocketd (1),
.BR systemd.socket (5),
.BR systemd\-socket\-activate (1)
`
