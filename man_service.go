package main

// sections for man.go
//
// Roff for the parts of wsbridge(1) about running as a service: signals,
// systemd, the configuration file and environment, reverse proxies, metrics,
// and the exit status of a bad configuration file. Each constant is one or
// more whole sections (.SH), ready to be spliced into the generated page in
// this order, before EXAMPLES; manServiceExamples goes inside EXAMPLES.

const manSectionConfigFile = `.SH CONFIGURATION FILE
.B \%\-\-config=\c
.I FILE
reads settings from a TOML file.
Every flag can be set there under its own name, and the program to run under
.BR command ,
as an array of strings:
.PP
.RS
.EX
command = ["./count.sh", "\-\-fast"]
port = 8080
address = ["127.0.0.1", "::1"]
maxforks = 256
loglevel = "info"
shutdown\-timeout = "30s"
trusted\-proxy = ["127.0.0.1/32"]
.EE
.RE
.PP
A flag given on the command line wins over the environment, which wins over
the file, which wins over the defaults.
The command in the file is used only when the command line gives none.
Keys are the flag names without the dashes in front; values have the flag's
type: integers, strings, true or false, durations as strings ("10s"), and
strings or arrays of strings for flags that may be repeated.
An unknown key, a value of the wrong type, a table or a syntax error stops
\%wsbridge at startup with exit status 1 and a message naming the file, the line
and the key.
.PP
On \%SIGHUP the file is read again and these settings take effect without a
restart:
.BR loglevel
(at once),
.BR maxforks
(from the next connection),
.BR pingms
and
.BR closems
(for sessions that start afterwards).
Running sessions are not touched.
Changes to any other setting are logged as needing a restart.
A file that no longer parses leaves every setting as it was.
`

const manSectionEnvironment = `.SH ENVIRONMENT
.TP
.BI WSBRIDGE_ FLAG
Every flag can be given as an environment variable: its name in upper case
with dashes as underscores, after
.BR WSBRIDGE_ .
None of these reach the child, whose environment is built from
.B \%\-\-passenv
and the request alone.
Flags that may be repeated take a comma\-separated list:
.RS
.EX
WSBRIDGE_PORT=8080
WSBRIDGE_MAXFORKS=64
WSBRIDGE_TRUSTED_PROXY=10.0.0.0/8,127.0.0.1
WSBRIDGE_CONFIG=/etc/wsbridge/wsbridge.toml
.EE
.RE
.TP
.B NOTIFY_SOCKET
Set by systemd for Type=notify services; see SYSTEMD.
.TP
.B WATCHDOG_USEC
Set by systemd with WatchdogSec=; \%wsbridge pings the watchdog at half this
interval.
.TP
.BR LISTEN_FDS ", " LISTEN_PID ", " LISTEN_FDNAMES
Sockets passed by systemd (socket activation); see SYSTEMD.
`

const manSectionSignals = `.SH SIGNALS
.TP
.BR \%SIGTERM ", " \%SIGINT
Shut down: stop accepting connections, then end every session.
Each child gets its kill sequence (stdin closed, then \%SIGINT, \%SIGTERM and
\%SIGKILL to its process group, each after a wait); whatever it writes in the
meantime still reaches its client, which is then closed with code 1001
(going away).
\%wsbridge waits up to
.B \%\-\-shutdown\-timeout
(10 seconds by default), kills what is left, and exits with status 0.
A second \%SIGTERM or \%SIGINT kills the remaining sessions at once.
No child outlives \%wsbridge.
.TP
.B \%SIGHUP
Reload without dropping a session: the configuration file's reloadable
settings (see CONFIGURATION FILE) and the TLS certificates.
Each change is logged.
`

const manSectionSystemd = `.SH SYSTEMD
\%wsbridge runs as a
.B Type=notify
service: it sends READY=1 once it listens, RELOADING=1 and READY=1 around a
reload, STOPPING=1 when it shuts down, and a STATUS= line naming its
addresses.
With
.BR WatchdogSec= ,
it pings the watchdog.
.PP
With socket activation (a .socket unit, or
.BR systemd\-socket\-activate (1)),
\%wsbridge serves on the sockets it is handed instead of
.B \%\-\-port
and
.BR \%\-\-address .
A socket whose
.B FileDescriptorName=
is
.B metrics
serves /metrics, /healthz and /readyz, like
.BR \%\-\-metrics\-address ;
every other socket serves WebSockets.
To try it without a unit:
.PP
.RS
.EX
systemd\-socket\-activate \-l 127.0.0.1:8080 wsbridge cat
.EE
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
(or proto=https) sets HTTPS=on.
From any other peer these headers change nothing.
By default no one is trusted.
.PP
The proxy must pass the upgrade on (HTTP/1.1 with the Upgrade and Connection
headers) and must not time out quiet connections sooner than
.BR \%\-\-pingms .
\%wsbridge keeps no state between sessions, so several instances behind one
proxy can share the load; a session that reconnects
.RB ( \%\-\-reconnect )
must reach the instance that holds it, so only then does the proxy need sticky
sessions.
An nginx example is in examples/nginx in the source.
`

const manSectionMetrics = `.SH METRICS
.B \%\-\-metrics\-address=\c
.I HOST:PORT
opens a second listener, never the public port, which serves:
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
not_found, bad_request, shutting_down, max_clients
.TP
.BR wsbridge_messages_total { direction } ", " wsbridge_bytes_total { direction }
WebSocket messages and payload bytes from clients
.RB ( in )
and to them
.RB ( out ),
counted when a session ends
.TP
.BR wsbridge_child_exits_total { close_code }
sessions ended, by the close code sent: 1000 (exit status 0), 4xxx (exit
status 1\(en255), 1011 (killed by a signal), 1001 (server shutting down)
.TP
.B wsbridge_spawn_failures_total
children that could not be started
.TP
.B wsbridge_session_duration_seconds
histogram of session lengths
.TP
.BR wsbridge_build_info { version } ", " process_* ", " go_*
the running binary and process
.RE
.TP
.B /healthz
200 while the process serves HTTP.
.TP
.B /readyz
200 while \%wsbridge is listening, not shutting down and below
.BR \%\-\-maxforks ;
503 otherwise, so a load balancer sends new sessions elsewhere.
`

const manSectionExitStatusConfig = `.TP
.B 1
Also: the configuration file cannot be read, does not parse, or has an unknown
key or a value of the wrong type.
`

const manServiceExamples = `.PP
Run under systemd socket activation, from the command line:
.PP
.RS
.EX
systemd\-socket\-activate \-l 127.0.0.1:8080 wsbridge cat
.EE
.RE
.PP
Everything in a file, with metrics on a local port, behind nginx:
.PP
.RS
.EX
wsbridge \-\-config=/etc/wsbridge/wsbridge.toml \e
    \-\-metrics\-address=127.0.0.1:9180 \-\-trusted\-proxy=127.0.0.1/32
.EE
.RE
.PP
Apply a new
.B maxforks
from the file without dropping sessions:
.PP
.RS
.EX
systemctl reload wsbridge    # or: kill \-HUP $(pidof wsbridge)
.EE
.RE
`

// manServiceSections is every section above in page order, for a test and
// for splicing.
var manServiceSections = []string{
	manSectionConfigFile, manSectionEnvironment, manSectionSignals,
	manSectionSystemd, manSectionProxies, manSectionMetrics,
}
