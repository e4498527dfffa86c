package man

const manDescription = `.PP
Flags come before
.IR COMMAND ;
everything after it is passed to it as its arguments.
Long flags may also be written with a single dash, as websocketd accepts them
(\fB\-port=8080\fR is \fB\-\-port=8080\fR).
Every flag can also be set in a configuration file or by an environment
variable; see CONFIGURATION FILE and ENVIRONMENT.
.PP
.I COMMAND
is looked up as a shell does (in \fBPATH\fR for a bare name, else relative to
the working directory) and must be an executable file; this is checked at
startup.
Programs run in wsbridge's working directory.
.SS Modes
.TP
text (the default)
Each text message from the client is written to the program's standard input
followed by a newline.
Each line the program writes to standard output becomes one text message,
without its line ending.
Standard error lines are written to wsbridge's log.
.TP
\fB\-\-binary\fR
Bytes pass unchanged both ways: each client message is written to standard
input as it is, and each read from standard output (at most 32\ KiB and
\fB\-\-maxframesize\fR) becomes one binary message.
.TP
\fB\-\-passstderr\fR
Standard output and standard error lines both reach the client, each as a text
message holding a JSON object:
\fB{"stream":"stdout","data":"...\&"}\fR or
\fB{"stream":"stderr","data":"...\&"}\fR.
Standard error is logged too, as without the flag.
It cannot be combined with \fB\-\-binary\fR.
.TP
\fB\-\-broadcast\fR
One program per request path, shared by all of its clients: each output line
goes to every client of the path, each client message reaches the one
standard input whole.
With \fB\-\-envelope\fR the program and wsbridge speak JSON lines: client
IDs, join and leave events, output addressed to some clients.
.SS HTTP server
A path that is not clean (with \fB.\fR, \fB..\fR or empty segments, also
percent\-encoded) never reaches past the served folders: a plain request is
redirected to the clean path, query kept (\fB301\fR, or \fB308\fR for
methods other than GET and HEAD), as websocketd does; a WebSocket upgrade is
served as the clean path.
Then every request is answered by the first of these that applies:
.IP 1. 4
a WebSocket upgrade starts the endpoint's program:
.I COMMAND
on every path, or with \fB\-\-dir\fR the executable the path names;
.IP 2. 4
with \fB\-\-devconsole\fR, a GET on an endpoint gets the dev console page;
.IP 3. 4
a CGI script of \fB\-\-cgidir\fR;
.IP 4. 4
a file of \fB\-\-staticdir\fR;
.IP 5. 4
\fB426 Upgrade Required\fR on an endpoint, \fB404 Not Found\fR elsewhere.
Beside \fB\-\-staticdir\fR or \fB\-\-cgidir\fR,
.I COMMAND
(an endpoint on every path) gives way: a request no file or script answers is
a \fB404\fR, with an \fBUpgrade: websocket\fR header, as in websocketd.
.PP
A request that is refused (see CLOSE CODES) is refused before any program
starts, and takes no \fB\-\-maxforks\fR slot.
`

// manOptionsIntro opens OPTIONS.
const manOptionsIntro = `Each flag can also be set by the environment variable named after it
(see ENVIRONMENT) or in the configuration file (see CONFIGURATION FILE).
`

// manSections are the sections after OPTIONS, in page order.
var manSections = []string{
	manSectionConfigFile,
	manSectionEnvironment,
	manSectionCloseCodes,
	manSectionKillSequence,
	manSectionOutput,
	manSectionTerminal,
	manSectionSignals,
	manSectionSystemd,
	manSectionProxies,
	manSectionMetrics,
	manSectionExitStatus,
	manSectionExamples,
	manSectionSeeAlso,
}

const manSectionConfigFile = `.SH CONFIGURATION FILE
.B \%\-\-config=\c
.I FILE
reads settings from a TOML file.
Every flag but \fB\-\-help\fR, \fB\-\-version\fR and \fB\-\-config\fR can be
set there under its own name, and the program to run under
.BR command ,
as an array of strings:
.PP
.RS 4
.nf
command = ["./count.sh", "\-\-fast"]
port = 8080
address = ["127.0.0.1", "::1"]
maxforks = 256
loglevel = "info"
shutdown\-timeout = "30s"
trusted\-proxy = ["127.0.0.1/32"]
.fi
.RE
.PP
A flag given on the command line wins over the environment, which wins over
the file, which wins over the defaults.
The command in the file is used only when the command line gives none.
Keys are the flag names without the dashes in front; values have the flag's
type: integers, strings, true or false, durations as strings ("10s"), and
strings or arrays of strings for flags that may be repeated.
Every setting is at the top level: tables are refused.
An unknown key, a value of the wrong type, a table or a syntax error stops
\%wsbridge at startup with exit status 1 and a message naming the file, the line
and the key.
.PP
On \%SIGHUP the file is read again, with the same command line and
environment, and these settings take effect without a restart:
.B loglevel
(at once),
.B maxforks
(from the next connection),
.B pingms
and
.B closems
(for sessions that start afterwards).
Running sessions are not touched.
Changes to any other setting, the command included, are logged as needing a
restart.
A file that no longer parses leaves every setting as it was.
`

const manSectionEnvironment = `.SH ENVIRONMENT
.SS Variables wsbridge reads
.TP
.BI WSBRIDGE_ FLAG
Every flag but \fB\-\-help\fR and \fB\-\-version\fR can be given as an
environment variable: its name in upper case with dashes as underscores, after
.BR WSBRIDGE_ .
Flags that may be repeated take a comma\-separated list
(\fB\-\-credential\fR, \fB\-\-credential\-file\fR and the \fB\-\-header\fR
flags take one value).
None of these reach the program.
.RS 4
.sp
.nf
WSBRIDGE_PORT=8080
WSBRIDGE_MAXFORKS=64
WSBRIDGE_TRUSTED_PROXY=10.0.0.0/8,127.0.0.1
WSBRIDGE_CONFIG=/etc/wsbridge/wsbridge.toml
.fi
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
.SS The program's environment
The program does not inherit wsbridge's environment.
It gets only the variables named by \fB\-\-passenv\fR (by default
\fBPATH\fR and \fBLD_LIBRARY_PATH\fR) that are set, and CGI meta\-variables
describing the request:
.TP
.B SERVER_SOFTWARE
\fBwsbridge/\fR\fIVERSION\fR.
.TP
.B GATEWAY_INTERFACE
\fBCGI/1.1\fR.
.TP
.B SERVER_PROTOCOL
The request's protocol, such as \fBHTTP/1.1\fR.
.TP
.B SERVER_NAME
The host named in the request's Host header.
.TP
.B SERVER_PORT
The port the connection came in on.
.TP
.B REQUEST_METHOD
\fBGET\fR.
.TP
.B REQUEST_URI
The path and query string as the client sent them.
.TP
.B SCRIPT_NAME
\fB/\fR; with \fB\-\-dir\fR, the script's path, such as \fB/chat.sh\fR.
.TP
.B PATH_INFO
The request's path; with \fB\-\-dir\fR, what follows the script's path.
.TP
.B PATH_TRANSLATED
The request's whole path.
.TP
.B QUERY_STRING
The query string, without the \fB?\fR.
.TP
.B REMOTE_ADDR
The client's IP address; \fBunix\-socket\fR on \fB\-\-unixsocket\fR; the
forwarded client's address behind a \fB\-\-trusted\-proxy\fR.
.TP
.B REMOTE_HOST
The client's host name with \fB\-\-reverselookup\fR, its address otherwise.
.TP
.B REMOTE_PORT
The client's port.
.TP
.BR REMOTE_USER ", " AUTH_TYPE
The authenticated user and \fBBasic\fR with \fB\-\-credential\fR or
\fB\-\-credential\-file\fR, \fBBearer\fR with a JWT (\fB\-\-jwt\-key\fR,
\fB\-\-jwks\-url\fR), \fBproxy\fR with \fB\-\-auth\-header\fR; empty otherwise.
.TP
.B JWT_CLAIMS
With a JWT: its verified claims as compact JSON; unset otherwise.
.TP
.B UNIQUE_ID
An identifier of the session, also used in the log.
.TP
.B HTTPS
\fBon\fR when the connection uses TLS, or a \fB\-\-trusted\-proxy\fR says the
client's did; unset otherwise.
.TP
.B WEBSOCKET_PROTOCOL
The subprotocol chosen from \fB\-\-subprotocol\fR; empty when the client
offered none.
.TP
.BR SSL_CLIENT_S_DN ", " SSL_CLIENT_VERIFY
With \fB\-\-sslca\fR: the client certificate's subject (RFC 2253) and
\fBSUCCESS\fR; empty and \fBNONE\fR on the unix socket.
.TP
.BI HTTP_ NAME
Every request header, its name in capitals with each character other than a
letter or digit turned into \fB_\fR.
\fBHTTP_HOST\fR carries the Host header.
Control characters are removed from values; a header sent more than once
gets its values joined with \fB",\ "\fR.
Header names that contain \fB_\fR are dropped, so that they cannot pose as
another header.
A \fBProxy:\fR header never becomes \fBHTTP_PROXY\fR, which many programs
would take as their HTTP proxy ("httpoxy").
With authentication, the \fBAuthorization\fR header and wsbridge's token
cookie are removed.
.PP
CGI scripts of \fB\-\-cgidir\fR get the same environment, with
\fBPATH=/usr/local/bin:/usr/bin:/bin\fR when \fB\-\-passenv\fR does not pass
\fBPATH\fR; they run in their own folder.
`
