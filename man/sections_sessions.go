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
.B 4401
The client's JWT reached its exp (plus \fB\-\-jwt\-leeway\fR), reason
\fB"token expired"\fR; a pipe or terminal program has had the kill sequence
first (a terminal with \fB\-\-reconnect\fR is kept for the client to resume
with a fresh token).
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
Missing or wrong credentials (\fB\-\-credential\fR, \fB\-\-credential\-file\fR),
a missing or bad JWT (with \fBWWW\-Authenticate: Bearer
error="invalid_token"\fR and the reason), or no \fB\-\-auth\-header\fR user
from a \fB\-\-trusted\-proxy\fR.
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
With \fB\-\-redis\fR, the instance holding a broadcast group's lease gives
the program this sequence when no instance has clients of the group or when
it shuts down, renewing the lease until the program is gone; it sends
\fBSIGKILL\fR at once only when it is losing the lease, or when the lease
could pass before the sequence ends.
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
.PP
Standard output is a pipe; standard input and standard error are the two
directions of one Unix socket, which the program has as both fd 0 and fd 2.
End of input is a half-close, read as end of file.
A program that writes to fd 0 is heard on stderr; one that closes stdin but
runs on makes input wait rather than be dropped; and fd 0 and fd 2 share
their file status flags, so making stdin non-blocking makes stderr
non-blocking too.
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
