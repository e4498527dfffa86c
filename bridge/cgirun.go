package bridge

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wsbridge/wsbridge/process"
)

// cgiHeaderLimit bounds the response headers a script may write (RFC 3875
// section 6), as request headers are bounded.
const cgiHeaderLimit = 64 << 10

// errBodyIncomplete is a script that answered after its request body
// failed to arrive whole (and was stopped for it).
var errBodyIncomplete = errors.New("the request body did not arrive whole")

// cgiRun is one CGI request: the script, started in a process group of its
// own like a session's child, gets the request body on stdin while its
// stdout is read for the response; stderr goes to the log. The whole run,
// from the request's start to the script's end, has one deadline
// (--cgi-timeout), for the body arriving from the client as for the
// script: past it the script gets the kill sequence, and the client a 504
// when it has no answer yet. serve returns once the script's process group
// is gone and every goroutine it started has ended, so the --maxforks slot
// is held exactly as long as the script runs.
type cgiRun struct {
	h   *Handler
	w   http.ResponseWriter
	r   *http.Request
	log *slog.Logger
	rc  *http.ResponseController

	mu      sync.Mutex
	bodyErr error // why the request body did not reach the script whole
}

func (c *cgiRun) serve(cfg process.Config) {
	var deadline time.Time
	if t := c.h.opts.CGITimeout; t > 0 {
		deadline = time.Now().Add(t)
	}
	p, err := process.Start(cfg)
	if err != nil {
		c.log.Error("cgi: cannot start the script", "err", err)
		http.Error(c.w, "500 Internal Server Error: the script could not be started", http.StatusInternalServerError)
		return
	}
	var wg sync.WaitGroup
	fed := make(chan struct{})
	defer func() {
		// The group is gone (Done); then the daemon's ends are closed,
		// which ends the stdin and stderr goroutines.
		p.Stop()
		<-p.Done()
		select {
		case <-fed:
		default:
			c.rc.SetReadDeadline(time.Now()) // a body still arriving is no longer wanted
		}
		p.Release()
		wg.Wait()
		c.log.Debug("cgi: script ended", "pid", p.Pid, "exit", p.Status().String())
	}()
	stderr := &lineLogger{log: c.log}
	wg.Go(func() {
		io.Copy(stderr, p.Stderr)
		stderr.flush()
	})
	if !deadline.IsZero() {
		p.Stdout.SetReadDeadline(deadline)
	}
	if c.r.ContentLength != 0 {
		// Reading the body while the response is written needs full
		// duplex on HTTP/1.
		c.rc.EnableFullDuplex()
		if !deadline.IsZero() {
			c.rc.SetReadDeadline(deadline)
			p.Stdin.SetWriteDeadline(deadline)
		}
		wg.Go(func() {
			defer close(fed)
			c.feed(p)
		})
	} else {
		close(fed)
		p.CloseStdin()
	}

	out := bufio.NewReaderSize(p.Stdout, 4096)
	status, header, err := readCGIHeader(out)
	if err == nil && c.failedBody() != nil {
		// The script answered after its stdin was closed on a failed
		// body: it may have taken the part it got for the whole.
		err = errBodyIncomplete
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(c.failedBody(), os.ErrDeadlineExceeded) {
			c.log.Warn("cgi: timed out before the script answered", "timeout", c.h.opts.CGITimeout.String())
			http.Error(c.w, "504 Gateway Timeout: the script did not answer in time", http.StatusGatewayTimeout)
			c.rc.Flush() // the client need not wait for the kill sequence
			return
		}
		if bodyErr := c.failedBody(); bodyErr != nil {
			c.log.Log(c.r.Context(), slog.LevelInfo, "cgi: request body incomplete", "err", bodyErr)
			http.Error(c.w, "400 Bad Request: the request body did not arrive whole", http.StatusBadRequest)
			return
		}
		c.log.Error("cgi: bad response from the script", "err", err)
		http.Error(c.w, "500 Internal Server Error: the script's response is not valid CGI", http.StatusInternalServerError)
		return
	}
	for k, vv := range header {
		for _, v := range vv {
			c.w.Header().Add(k, v)
		}
	}
	c.w.WriteHeader(status)
	_, err = io.Copy(c.w, out)
	if err == nil && c.failedBody() != nil {
		err = errBodyIncomplete
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(c.failedBody(), os.ErrDeadlineExceeded) {
			c.log.Warn("cgi: timed out while sending the script's response; connection cut", "timeout", c.h.opts.CGITimeout.String())
		} else {
			c.log.Log(c.r.Context(), slog.LevelInfo, "cgi: response not sent whole", "err", err)
		}
		// The response is incomplete: cut the connection rather than let
		// it look finished.
		c.rc.SetWriteDeadline(time.Now())
		return
	}
	// Output ended: the script gets until the deadline to exit.
	if !deadline.IsZero() {
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		select {
		case <-p.Done():
		case <-timer.C:
			c.log.Warn("cgi: script still running at --cgi-timeout after closing its output; stopping it")
		}
	} else {
		<-p.Done()
	}
}

// feed copies the request body to the script's stdin, then closes it. A
// body that fails (the deadline, the client gone) stops the script: it
// must not take a truncated body for a whole one.
func (c *cgiRun) feed(p *process.Process) {
	body := c.r.Body
	if c.r.ContentLength > 0 {
		body = io.NopCloser(io.LimitReader(body, c.r.ContentLength))
	}
	_, err := io.Copy(p.Stdin, body)
	if err != nil && !isClosedPipe(err) {
		c.mu.Lock()
		c.bodyErr = err
		c.mu.Unlock()
		p.Stop()
		return
	}
	p.CloseStdin()
}

// isClosedPipe is a write to a script that no longer reads its stdin (it
// exited, or closed it): the script chose not to read the rest.
func isClosedPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed)
}

func (c *cgiRun) failedBody() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bodyErr
}

// readCGIHeader reads a script's response header (RFC 3875 section 6):
// lines up to an empty one, with Status giving the code, Location alone
// meaning a redirect (302), and otherwise Content-Type required.
func readCGIHeader(out *bufio.Reader) (status int, header http.Header, err error) {
	header = http.Header{}
	total := 0
	for {
		line, err := out.ReadSlice('\n')
		total += len(line)
		if errors.Is(err, bufio.ErrBufferFull) || total > cgiHeaderLimit {
			return 0, nil, errors.New("response header too long")
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, nil, errors.New("output ended before the end of the header")
			}
			return 0, nil, err
		}
		text := strings.TrimRight(string(line), "\r\n")
		if text == "" {
			break
		}
		name, value, ok := strings.Cut(text, ":")
		if !ok || !isHeaderName(name) {
			return 0, nil, fmt.Errorf("bad header line %q", text)
		}
		value = textproto.TrimString(value)
		if strings.EqualFold(name, "Status") {
			code, err := strconv.Atoi(strings.Fields(value + " x")[0])
			if err != nil || code < 100 || code > 999 {
				return 0, nil, fmt.Errorf("bad Status %q", value)
			}
			status = code
			continue
		}
		header.Add(name, value)
	}
	if len(header) == 0 && status == 0 {
		return 0, nil, errors.New("no header")
	}
	if status == 0 {
		switch {
		case header.Get("Location") != "":
			status = http.StatusFound
		case header.Get("Content-Type") == "":
			return 0, nil, errors.New("no Content-Type")
		default:
			status = http.StatusOK
		}
	}
	return status, header, nil
}

// isHeaderName reports whether s is an HTTP token (RFC 9110).
func isHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
