package main_test

import (
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// A session does not outlive its token (close 4401), and identity from a
// trusted proxy (--auth-header).

// shortToken is an HS256 token for user that expires in d.
func shortToken(t testing.TB, k jwtKeys, user string, d time.Duration) (string, time.Time) {
	exp := time.Now().Add(d).Truncate(time.Second).Add(time.Second)
	c := claimsFor(user, d)
	c["exp"] = exp.Unix()
	return mint(t, jwt.SigningMethodHS256, k.hmac, c, ""), exp
}

// A pipe session ends at exp: its program gets the whole kill sequence, and
// only then the client gets 4401 "token expired".
func TestJWTExpiryPipe(t *testing.T) {
	t.Parallel()
	k := keys(t)
	// The program ignores the stdin EOF and SIGINT: only the later
	// signals of the kill sequence end it.
	s := startServer(t, "--jwt-key="+k.hmacFile, "--jwt-leeway=0s", "sh", "-c", `trap '' INT; echo "pid $$"; while :; do sleep 0.05; done`)
	tok, exp := shortToken(t, k, "frank", 2*time.Second)
	c := dialOpts(t, s.URL("/"), bearer(tok))
	pid := pidOf(t, readText(t, c))
	_, code, reason := readUntilClose(t, c)
	closedAt := time.Now()
	if code != 4401 || reason != "token expired" {
		t.Fatalf("close %d %q, want 4401 token expired", code, reason)
	}
	if closedAt.Before(exp) {
		t.Errorf("closed at %v, before exp %v", closedAt, exp)
	}
	if !groupGone(pid) {
		t.Errorf("the program (pid %d) still runs when the client hears of the expiry", pid)
	}
	s.waitLog(t, testTimeout, "token expired: closing the session", "code=4401")
	s.waitLog(t, testTimeout, "msg=disconnect", `exit="killed by signal TERM"`)
}

// A terminal without --reconnect: the shell is stopped, then 4401. With
// --reconnect the shell waits, and the client comes back to it with a fresh
// token.
func TestJWTExpiryTerminal(t *testing.T) {
	t.Parallel()
	k := keys(t)
	t.Run("stops", func(t *testing.T) {
		t.Parallel()
		// A program that outlasts the hangup and SIGINT.
		s := startServer(t, "--jwt-key="+k.hmacFile, "--jwt-leeway=0s", "--terminal", "sh", "-c", `trap '' INT HUP; echo "pid=$$="; while :; do sleep 0.05; done`)
		tok, _ := shortToken(t, k, "gina", 2*time.Second)
		tc := ttyDial(t, s.URL("/"), http.Header{"Authorization": {"Bearer " + tok}})
		pid, _ := strconv.Atoi(tc.waitOutput(`pid=(\d+)=`)[1])
		if code, reason := tc.untilClose(); code != 4401 || reason != "token expired" {
			t.Fatalf("close %d %q, want 4401 token expired", code, reason)
		}
		if !groupGone(pid) {
			t.Errorf("the shell (pid %d) still runs when the client hears of the expiry", pid)
		}
	})
	t.Run("reconnect", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "--jwt-key="+k.hmacFile, "--jwt-leeway=0s", "--terminal", "--writable", "--reconnect=1m", interactive[0], interactive[1])
		tok, _ := shortToken(t, k, "gina", 2*time.Second)
		tc := ttyDial(t, s.URL("/"), http.Header{"Authorization": {"Bearer " + tok}})
		session := tc.waitControl("hello").Session
		pid := shellPid(tc, "p1")
		if code, _ := tc.untilClose(); code != 4401 {
			t.Fatalf("close %d, want 4401", code)
		}
		// The expired token is refused; a fresh one resumes the shell.
		if _, err := ttyTryDial(s.URL("/?session="+session), http.Header{"Authorization": {"Bearer " + tok}}); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("resume with the expired token: %v, want 401", err)
		}
		fresh, _ := shortToken(t, k, "gina", time.Hour)
		back := ttyDial(t, s.URL("/?session="+session), http.Header{"Authorization": {"Bearer " + fresh}})
		if h := back.waitControl("hello"); h.Session != session {
			t.Fatalf("hello %+v, want session %s", h, session)
		}
		if got := shellPid(back, "p2"); got != pid {
			t.Fatalf("shell %s after the fresh token, want the same shell %s", got, pid)
		}
	})
}

// A broadcast client whose token expires is closed alone; the group and its
// other clients go on, and the program hears the leave with 4401.
func TestJWTExpiryBroadcast(t *testing.T) {
	t.Parallel()
	need(t, "python3", "the envelope program")
	k := keys(t)
	prog := writeFile(t, t.TempDir()+"/claims.py", `import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("event") == "join":
        out = {"data": "join %s %s %s" % (m["client"], m.get("user", "-"), json.dumps(m.get("claims"), sort_keys=True))}
    elif m.get("event") == "leave":
        out = {"data": "left %s %d" % (m["client"], m["code"])}
    else:
        out = {"data": m["data"]}
    print(json.dumps(out), flush=True)
`, 0o644)
	s := startServer(t, "--jwt-key="+k.hmacFile, "--jwt-leeway=0s", "--broadcast", "--envelope", "--passenv=PATH", "/usr/bin/python3", prog)
	long, _ := shortToken(t, k, "hank", time.Hour)
	a := dialOpts(t, s.URL("/room"), bearer(long))
	joinA := strings.Fields(readText(t, a))
	if len(joinA) < 4 || joinA[2] != "hank" || !strings.Contains(strings.Join(joinA[3:], " "), `"sub": "hank"`) {
		t.Fatalf("join event %q: want user hank and the claims", joinA)
	}
	short, _ := shortToken(t, k, "ivy", 2*time.Second)
	b := dialOpts(t, s.URL("/room"), bearer(short))
	idB := strings.Fields(readText(t, a))[1] // b's join, as a sees it
	readText(t, b)
	if _, code, reason := readUntilClose(t, b); code != 4401 || reason != "token expired" {
		t.Fatalf("b closed with %d %q, want 4401 token expired", code, reason)
	}
	if got := readText(t, a); got != "left "+idB+" 4401" {
		t.Fatalf("a got %q, want b's leave with 4401", got)
	}
	expectEcho(t, a, "still here")
}

// --auth-header: the user from a trusted proxy's header; the header of
// anyone else is ignored and removed, and alone it admits nobody.
func TestAuthHeader(t *testing.T) {
	t.Parallel()
	from := func(ip string) *websocket.DialOptions {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &websocket.DialOptions{
			HTTPClient: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}},
			HTTPHeader: http.Header{"X-Forwarded-User": {"judy"}},
		}
	}
	s := startServer(t, "--auth-header=X-Forwarded-User", "--trusted-proxy=127.0.0.7/32", "sh", "-c", envProgram)
	env := readUntilEnd(t, dialOpts(t, s.URL("/"), from("127.0.0.7")))
	if env["REMOTE_USER"] != "judy" || env["AUTH_TYPE"] != "proxy" {
		t.Errorf("from the trusted proxy: REMOTE_USER=%q AUTH_TYPE=%q, want judy proxy", env["REMOTE_USER"], env["AUTH_TYPE"])
	}
	_, res, err := tryDial(t, s.URL("/forged"), from("127.0.0.8"))
	if err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the header from an untrusted peer: %v %+v, want 401", err, res)
	}
	s.waitLog(t, testTimeout, "msg=refused", "path=/forged", "ignored: not from a --trusted-proxy")

	// Beside Basic credentials: a forged header is removed, the password
	// decides.
	s2 := startServer(t, "--auth-header=X-Forwarded-User", "--trusted-proxy=127.0.0.7/32", "--credential=kate:pw", "sh", "-c", envProgram)
	opts := from("127.0.0.8")
	opts.HTTPHeader.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("kate:pw")))
	env = readUntilEnd(t, dialOpts(t, s2.URL("/"), opts))
	if env["REMOTE_USER"] != "kate" || env["AUTH_TYPE"] != "Basic" || env["HTTP_X_FORWARDED_USER"] != "<unset>" {
		t.Errorf("forged header with a password: REMOTE_USER=%q AUTH_TYPE=%q HTTP_X_FORWARDED_USER=%q", env["REMOTE_USER"], env["AUTH_TYPE"], env["HTTP_X_FORWARDED_USER"])
	}
	if code := dialStatus(t, s2.URL("/"), from("127.0.0.8")); code != 401 {
		t.Errorf("forged header alone beside --credential: %d, want 401", code)
	}
}

// Several methods: any one admits; a stale token does not lock out a
// password, and the 401 challenges both.
func TestAuthMethodsCombine(t *testing.T) {
	t.Parallel()
	k := keys(t)
	s := startServer(t, "--jwt-key="+k.hmacFile, "--credential=liam:pw", "sh", "-c", envProgram)
	expired := mint(t, jwt.SigningMethodHS256, k.hmac, claimsFor("liam", -time.Hour), "")
	opts := &websocket.DialOptions{HTTPHeader: http.Header{
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("liam:pw"))},
		"Cookie":        {"wsbridge_jwt=" + expired},
	}}
	env := readUntilEnd(t, dialOpts(t, s.URL("/"), opts))
	if env["REMOTE_USER"] != "liam" || env["AUTH_TYPE"] != "Basic" || env["HTTP_COOKIE"] != "<unset>" || env["JWT_CLAIMS"] != "<unset>" {
		t.Errorf("password beside an expired token cookie: %v", env)
	}
	_, res, _ := tryDial(t, s.URL("/"), bearer(expired))
	if res == nil || res.StatusCode != 401 {
		t.Fatalf("expired token alone: %+v, want 401", res)
	}
	var schemes []string
	for _, v := range res.Header.Values("WWW-Authenticate") {
		schemes = append(schemes, strings.Fields(v)[0])
	}
	if strings.Join(schemes, ",") != "Basic,Bearer" {
		t.Errorf("challenges %q, want Basic and Bearer", res.Header.Values("WWW-Authenticate"))
	}
}

// examples/nginx/auth-request.conf with a stub auth service: the user it
// names reaches the program, a forged X-Forwarded-User does not, and a
// request it refuses never reaches wsbridge.
func TestAuthHeaderNginx(t *testing.T) {
	t.Parallel()
	var asked atomic.Int64
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if r.URL.Path != "/oauth2/auth" || r.Header.Get("Upgrade") != "" {
			http.Error(w, "unexpected "+r.URL.Path, http.StatusInternalServerError)
			return
		}
		if c, err := r.Cookie("_oauth2_proxy"); err == nil && c.Value == "signed-in-as-mia" {
			w.Header().Set("X-Auth-Request-User", "mia")
			w.WriteHeader(http.StatusAccepted)
			return
		}
		http.Error(w, "sign in first", http.StatusUnauthorized)
	}))
	t.Cleanup(stub.Close)
	s := startServer(t, "--auth-header=X-Forwarded-User", "--trusted-proxy=127.0.0.1/32", "sh", "-c", envProgram)
	front := startNginxSite(t, "auth-request.conf", "listen 8082;", map[string]string{
		"server 127.0.0.1:8080": "server " + s.addr,
		"server 127.0.0.1:4180": "server " + strings.TrimPrefix(stub.URL, "http://"),
	})
	// The client reaches nginx from 127.0.0.5, never a trusted address.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}
	client := &http.Client{
		Transport:     &http.Transport{DialContext: dialer.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	opts := func(cookie string) *websocket.DialOptions {
		h := http.Header{"X-Forwarded-User": {"mallory"}}
		if cookie != "" {
			h.Set("Cookie", "_oauth2_proxy="+cookie)
		}
		return &websocket.DialOptions{HTTPClient: client, HTTPHeader: h}
	}
	env := readUntilEnd(t, dialOpts(t, "ws://"+front+"/", opts("signed-in-as-mia")))
	if env["REMOTE_USER"] != "mia" || env["AUTH_TYPE"] != "proxy" || env["HTTP_X_FORWARDED_USER"] != "mia" {
		t.Errorf("through nginx: REMOTE_USER=%q AUTH_TYPE=%q HTTP_X_FORWARDED_USER=%q, want mia proxy mia", env["REMOTE_USER"], env["AUTH_TYPE"], env["HTTP_X_FORWARDED_USER"])
	}
	// Not signed in: nginx sends the browser to sign in; wsbridge sees
	// nothing.
	_, res, err := tryDial(t, "ws://"+front+"/", opts("forged"))
	if err == nil || res == nil || res.StatusCode != http.StatusFound || !strings.Contains(res.Header.Get("Location"), "/oauth2/sign_in") {
		t.Fatalf("not signed in: %v %+v, want 302 to the sign-in page", err, res)
	}
	if strings.Contains(s.Stderr(), "mallory") {
		t.Errorf("the forged user reached wsbridge:\n%s", s.Stderr())
	}
	// Straight to wsbridge, past nginx: the forged header is not believed.
	if code := dialStatus(t, s.URL("/direct"), opts("")); code != http.StatusUnauthorized {
		t.Errorf("forged header straight to wsbridge: %d, want 401", code)
	}
	if asked.Load() < 2 {
		t.Errorf("the auth service was asked %d times, want every request", asked.Load())
	}
}
