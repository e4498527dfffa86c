package man

const manSectionCloseCodes = `.SH CLOSE CODES
How the session ends is told to the client in the WebSocket close frame:
.TP
.B 1000
The program exited with status 0; all of its output was delivered first.
.TP
.BI 4000+ N
The program exited with status \fIN\fR (1 to 255).
The reason is \fB"exit status\fR \fIN\fR\fB"\fR.
.TP
.B 1011
The program was killed by a signal; the reason names it, as in
\fB"killed by signal KILL"\fR.
Also sent when the program could not be started.
.TP
.B 1013
The program could not be started for want of file descriptors (reason
\fB"server busy: out of file descriptors; try again later"\fR); the 503
below makes this rare.
.TP
.B 1001
The server is shutting down (reason \fB"server shutting down"\fR).
.TP
.B 1003
The client sent a binary message in text mode.
.TP
.B 1007
The client sent a text message (also with \fB\-\-binary\fR) or a close
reason that is not valid UTF\-8; sent as soon as the bad bytes arrive.
.TP
.B 1009
The client sent a message larger than \fB\-\-maxframesize\fR.
.TP
.B 1013
With \fB\-\-broadcast\fR, reason \fB"too slow"\fR: more than
\fB\-\-client\-queue\fR bytes of output waited for the client.
.TP
.B 1002
The client broke the protocol: reserved bits, an unknown opcode, a
fragmented or over\-long control frame, a continuation with no message, an
unmasked frame, or a close code a peer may not send.
.PP
After 1002, 1003, 1007 or 1009 the client is no longer read and the
program's stdin is closed; what the program writes in answer to the messages
it already had is sent before the close, which goes out at the latest after
the first wait of the kill sequence.
With \fB\-\-broadcast\fR the program is shared: its stdin stays open, and
only that client is closed, after the output queued for it.
.PP
Some requests are refused before the upgrade, and no program is started.
Each refusal is logged once at access level as \fBrefused\fR, with the
client's address, the path and the reason (for a 404 under \fB\-\-dir\fR:
not found, not executable with a \fBchmod +x\fR hint, outside the folder,
hidden, a folder...):
.TP
.B 400
The client offered only subprotocols not in \fB\-\-subprotocol\fR.
.TP
.B 401
Missing or wrong credentials (\fB\-\-credential\fR, \fB\-\-credential\-file\fR).
.TP
.B 403
The page's Origin is not allowed (\fB\-\-origin\fR, \fB\-\-sameorigin\fR),
or a writable terminal's access token is missing or wrong (see TERMINAL).
.TP
.B 404
No endpoint at this path (\fB\-\-dir\fR); the log says why.
.TP
.B 426
A plain HTTP request that does not ask for a WebSocket, on an endpoint (a
\fB\-\-dir\fR script, or any path of a
.I COMMAND
served alone).
.TP
.B 429
\fB\-\-maxforks\fR programs are running already.
.TP
.B 431
The request's headers are larger than 64\ KiB.
.TP
.B 503
The server is shutting down, or is short of file descriptors: starting one
more program would eat into the reserve kept free, 1/64 of the soft
.B RLIMIT_NOFILE
(16 to 1024), which \%wsbridge raises to the hard limit at startup (the
programs it starts get the original soft limit back). Sent with
\fBRetry\-After\fR; sessions are admitted again as soon as some end.
`

const manSectionKillSequence = `.SH KILL SEQUENCE
When the client goes away, when the program closes its standard output, or
when the server shuts down, the program is ended in steps, each taken only if
something of its process group is still running:
.IP 1. 4
close its standard input and wait 100 ms plus \fB\-\-closems\fR;
.IP 2. 4
send \fBSIGINT\fR to its process group and wait 250 ms plus \fB\-\-closems\fR;
.IP 3. 4
send \fBSIGTERM\fR to the process group and wait 500 ms plus
\fB\-\-closems\fR;
.IP 4. 4
send \fBSIGKILL\fR to the process group.
.PP
Each program runs in a process group of its own, so the processes it started
are ended with it.
When the program exits by itself, whatever it left running in its group gets
the same sequence.
`

const manSectionOutput = `.SH OUTPUT
In text mode, output is cut into messages at newlines:
.IP \(bu 2
a line ending in CRLF loses both characters;
.IP \(bu 2
a final line without a newline is still delivered when the program closes its
output;
.IP \(bu 2
a line longer than \fB\-\-maxframesize\fR bytes is split into several messages,
never inside a UTF\-8 character;
.IP \(bu 2
each byte that is not part of valid UTF\-8 is replaced by U+FFFD, so a
browser never sees an invalid text message.
.PP
A message is sent as soon as its line is complete.
Many programs buffer their output when it is not a terminal: make them flush
after each line (\fBfflush\fR(3), \fBpython3 \-u\fR, \fBstdbuf \-oL\fR),
or nothing arrives until the buffer fills or the program exits \(em or run it
with \fB\-\-pty\fR, where it sees a terminal and line-buffers.
.PP
Standard error lines of any length are logged, in pieces of at most 32\ KiB.
`

const manSectionTerminal = `.SH TERMINAL
.B \-\-pty
runs the program on a pseudo\-terminal instead of pipes, in line or binary
mode: 80x24 or the request's \fB?cols=\fR and \fB?rows=\fR, echo off,
\fBTERM\fR from \fB\-\-term\fR, standard error merged into the output.
The first step of the kill sequence sends the end\-of\-input character
(^D) instead of closing stdin, and its signals go to the terminal's whole
session, so jobs a shell put in process groups of their own end too.
.PP
.B \-\-terminal
implies \fB\-\-pty\fR and serves a browser terminal (xterm.js): a plain GET
on an endpoint gets the page, and the upgrade on the same URL is the session,
in subprotocol \fBwsbridge.tty.v1\fR (a client that does not offer it gets
400).
Binary frames carry terminal bytes both ways; text frames carry JSON control
messages.
From the client: \fB{"type":"resize","cols":\fR\fIC\fR\fB,"rows":\fR\fIR\fR\fB}\fR,
\fB{"type":"pause"}\fR and \fB{"type":"resume"}\fR; unknown types are
ignored, invalid JSON or a text frame over 4\ KiB closes with 1007.
From the server: \fB{"type":"hello","session":\fR\fITOKEN\fR\fB,"writable":\fR\fIB\fR\fB,"reconnect":\fR\fIB\fR\fB}\fR
first, \fB{"type":"title","title":\fR\fIT\fR\fB}\fR, and around a screen
replay \fB{"type":"replay"}\fR and \fB{"type":"live"}\fR.
.PP
While a client is paused the terminal is not read, so the program blocks on
its output and Ctrl\-C still takes effect at once; at most one 32\ KiB chunk
is in flight per session.
Input is dropped unless \fB\-\-writable\fR.
Without \fB\-\-origin\fR or \fB\-\-sameorigin\fR only pages of the
server's own origin may connect (403 otherwise); a request without an Origin
header is accepted.
.PP
A writable terminal is a shell for whoever reaches the port.
When one can be reached from other hosts (a listener on any address but a
loopback one: the default of all interfaces, or a socket systemd passed;
unix sockets are local) and no \fB\-\-credential\fR,
\fB\-\-credential\-file\fR or \fB\-\-sslca\fR authenticates its users,
wsbridge makes a random access token at startup and prints the page's URL
carrying it, \fB?token=\fR\fITOKEN\fR, on standard error and in the log.
Every request must then carry it: the page opened with it sets an HttpOnly
cookie and redirects to the URL without it, and the page's WebSocket carries
the cookie; a program may put \fB?token=\fR on the upgrade instead.
Requests without it get 403 and are logged and counted as refused (reason
token).
The program never sees the token or its cookie.
\fB\-\-no\-auth\fR turns this off, with a warning in the log.
.PP
With \fB\-\-reconnect=\fR\fIDURATION\fR a program whose client went away
keeps running that long; the page resumes with \fB?session=\fR\fITOKEN\fR
and gets a replay of the last 256\ KiB of output.
An unknown token is closed with \fB4400\fR, a session taken over by another
connection with \fB4409\fR.
With \fB\-\-shared\fR every client of an endpoint attaches to one program;
the terminal takes the smallest size, and a client more than 1\ MiB behind is
closed with \fB1013\fR and reconnects to a replay.
`

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
\%wsbridge runs as a
.B Type=notify
service: it sends READY=1 once it listens, RELOADING=1 and READY=1 around a
reload, STOPPING=1 when it shuts down, and a STATUS= line naming its
addresses.
With
.BR WatchdogSec= ,
it pings the watchdog at half that interval.
.PP
With socket activation (a .socket unit, or
.BR systemd\-socket\-activate (1)),
\%wsbridge serves on the sockets it is handed and opens none of its own
.RB ( \%\-\-port ,
.BR \%\-\-address ,
.B \%\-\-unixsocket
and
.B \%\-\-redirport
are not used); with \fB\-\-ssl\fR they serve TLS.
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
(or proto=https) sets HTTPS=on.
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
