package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/wsbridge/wsbridge/bridge/session"
)

// parseWith parses args as run does, with a config file holding toml (none
// if empty).
func parseWith(t *testing.T, toml string, args ...string) (*cli, error) {
	t.Helper()
	if toml != "" {
		path := filepath.Join(t.TempDir(), "wsbridge.toml")
		if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config=" + path}, args...)
	}
	src := new(configSource)
	c, k, err := parseCLI(args, parserOptions(io.Discard, io.Discard, src), src)
	if err != nil {
		return nil, err
	}
	if _, err := c.serverConfig(k, io.Discard); err != nil {
		return nil, err
	}
	return c, nil
}

func TestConfigPrecedence(t *testing.T) {
	// t.Setenv: not parallel. The binary's tests cover the same in parallel.
	file := "port = 1111\nmaxforks = 7\nloglevel = \"debug\"\naddress = [\"127.0.0.1\", \"::1\"]\ncommand = [\"cat\", \"-u\"]\nshutdown-timeout = \"3s\"\ntrusted-proxy = \"10.0.0.0/8\"\npassstderr = true\n"
	tests := []struct {
		name  string
		toml  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c *cli)
	}{
		{"defaults", "", nil, []string{"cat"}, func(t *testing.T, c *cli) {
			want(t, c.MaxForks, 1024)
			want(t, c.ShutdownTimeout, 10*time.Second)
			want(t, c.LogLevel, "access")
		}},
		{"file", file, nil, nil, func(t *testing.T, c *cli) {
			want(t, c.Port, 1111)
			want(t, c.MaxForks, 7)
			want(t, c.LogLevel, "debug")
			want(t, strings.Join(c.Address, " "), "127.0.0.1 ::1")
			want(t, strings.Join(c.Command, " "), "cat -u")
			want(t, c.ShutdownTimeout, 3*time.Second)
			want(t, strings.Join(c.TrustedProxy, " "), "10.0.0.0/8")
			want(t, c.PassStderr, true)
		}},
		{"env over file", file, map[string]string{"WSBRIDGE_PORT": "2222", "WSBRIDGE_TRUSTED_PROXY": "127.0.0.1/32,::1"}, nil, func(t *testing.T, c *cli) {
			want(t, c.Port, 2222)
			want(t, strings.Join(c.TrustedProxy, " "), "127.0.0.1/32 ::1")
			want(t, c.MaxForks, 7)
		}},
		{"command line over env and file", file, map[string]string{"WSBRIDGE_PORT": "2222"}, []string{"--port=3333", "-maxforks=9"}, func(t *testing.T, c *cli) {
			want(t, c.Port, 3333)
			want(t, c.MaxForks, 9)
			want(t, c.LogLevel, "debug")
		}},
		{"command line command over file", file, nil, []string{"--", "tr", "a", "b"}, func(t *testing.T, c *cli) {
			want(t, strings.Join(c.Command, " "), "tr a b")
		}},
		{"env only", "", map[string]string{"WSBRIDGE_MAXFORKS": "5"}, []string{"cat"}, func(t *testing.T, c *cli) {
			want(t, c.MaxForks, 5)
		}},
		{"config file from env", "", map[string]string{"WSBRIDGE_CONFIG": "@file"}, nil, func(t *testing.T, c *cli) {
			want(t, c.Port, 1111)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				if v == "@file" {
					v = filepath.Join(t.TempDir(), "env.toml")
					os.WriteFile(v, []byte(file), 0o644)
				}
				t.Setenv(k, v)
			}
			c, err := parseWith(t, tt.toml, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func want[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, toml string
		want       []string // substrings of the error
	}{
		{"unknown key", "port = 8080\n\nmaxfork = 3\n", []string{"wsbridge.toml:3:", `unknown key "maxfork"`, `did you mean "maxforks"`}},
		{"unknown key far from all", "port = 8080\nfrobnicate = 1\n", []string{"wsbridge.toml:2:", `unknown key "frobnicate"`}},
		{"dotted key", "port.x = 1\n", []string{"wsbridge.toml:1:", `unknown key "port.x"`}},
		{"table", "port = 1\n[server]\nport = 2\n", []string{"wsbridge.toml:2:", "[server]", "tables"}},
		{"int as string", "maxforks = \"ten\"\n", []string{"wsbridge.toml:1:", "maxforks", "want an integer"}},
		{"bool as int", "\nbinary = 1\n", []string{"wsbridge.toml:2:", "binary", "true or false"}},
		{"enum", "loglevel = \"loud\"\n", []string{"wsbridge.toml:1:", `"loud" is not one of`}},
		{"duration", "shutdown-timeout = 10\n", []string{"wsbridge.toml:1:", "duration"}},
		{"bad duration", "shutdown-timeout = \"soon\"\n", []string{"wsbridge.toml:1:", "duration"}},
		{"list of ints", "address = [1, 2]\n", []string{"wsbridge.toml:1:", "array of strings"}},
		{"command not a list", "command = \"cat\"\n", []string{"wsbridge.toml:1:", "command", "array of strings"}},
		{"config in config", "config = \"other.toml\"\n", []string{"wsbridge.toml:1:", "cannot be set in a config file"}},
		{"syntax", "port = \n", []string{"wsbridge.toml:1:"}},
		{"duplicate", "port = 1\nport = 2\n", []string{"wsbridge.toml:2:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseWith(t, tt.toml, "cat")
			if err == nil {
				t.Fatal("no error")
			}
			var ce *configError
			if !errors.As(err, &ce) {
				t.Errorf("%v: not a configError (exit status 1)", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestConfigMissingFile(t *testing.T) {
	t.Parallel()
	_, err := parseWith(t, "", "--config="+filepath.Join(t.TempDir(), "nope.toml"), "cat")
	var ce *configError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "nope.toml") {
		t.Fatalf("got %v, want a configError naming the file", err)
	}
}

// TestConfigSubprotocolList: --subprotocol is "comma-separated or
// repeated" however it is given, spaces after the commas included.
func TestConfigSubprotocolList(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		toml string
		args []string
	}{
		{"subprotocol = \"a, b\"\ncommand = [\"cat\"]\n", nil},
		{"", []string{"--subprotocol=a, b", "cat"}},
	} {
		c, err := parseWith(t, tt.toml, tt.args...)
		if err != nil {
			t.Fatalf("%q %q: %v", tt.toml, tt.args, err)
		}
		if got := strings.Join(c.subprotocols(), " "); got != "a b" {
			t.Errorf("%q %q: subprotocols %q, want \"a b\"", tt.toml, tt.args, got)
		}
	}
}

func TestConfigEveryFlagSettable(t *testing.T) {
	t.Parallel()
	// Every flag but help, version and config has a key, checked by type:
	// a file setting each to a value of the wrong kind must name each.
	src := new(configSource)
	c := new(cli)
	k, err := kong.New(c, parserOptions(io.Discard, io.Discard, src)...)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range k.Model.Flags {
		if inFile(f) {
			names = append(names, f.Name)
		}
	}
	if !slices.Contains(names, "trusted-proxy") || !slices.Contains(names, "maxforks") {
		t.Fatalf("flags %v", names)
	}
	for _, name := range names {
		_, err := parseWith(t, name+" = {}\n", "cat")
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s = {}: got %v, want an error naming the key", name, err)
		}
	}
}

func TestHiddenFlagsHaveNoEnvOrKey(t *testing.T) {
	t.Parallel()
	type withHidden struct {
		cli
		Secret bool `name:"secret" hidden:""`
	}
	var c withHidden
	src := new(configSource)
	k, err := kong.New(&c, parserOptions(io.Discard, io.Discard, src)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range k.Model.Flags {
		if f.Name == "secret" && (len(f.Envs) > 0 || inFile(f)) {
			t.Errorf("hidden flag: envs %v, settable in a file: %v", f.Envs, inFile(f))
		}
		if f.Name == "maxforks" && (len(f.Envs) != 1 || f.Envs[0] != "WSBRIDGE_MAXFORKS") {
			t.Errorf("maxforks envs %v", f.Envs)
		}
	}
}

// --compress works bare, with a mode, and in a config file as a bool or a
// mode; anything else is refused naming the flag.
func TestCompressFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		args []string
		want session.Compression
	}{
		{"", []string{"cat"}, session.CompressionOff},
		{"", []string{"--compress", "cat"}, session.CompressionNoContextTakeover},
		{"", []string{"--compress=no-context-takeover", "cat"}, session.CompressionNoContextTakeover},
		{"", []string{"--compress=context-takeover", "cat"}, session.CompressionContextTakeover},
		{"", []string{"-compress", "cat"}, session.CompressionNoContextTakeover},
		{"compress = true\n", []string{"cat"}, session.CompressionNoContextTakeover},
		{"compress = \"context-takeover\"\n", []string{"cat"}, session.CompressionContextTakeover},
		{"compress = true\n", []string{"--compress=off", "cat"}, session.CompressionOff},
	}
	for _, tt := range tests {
		c, err := parseWith(t, tt.file, tt.args...)
		if err != nil {
			t.Errorf("%q %q: %v", tt.file, tt.args, err)
			continue
		}
		if got := c.Compress.compression(); got != tt.want {
			t.Errorf("%q %q: %v, want %v", tt.file, tt.args, got, tt.want)
		}
		if len(c.Command) != 1 || c.Command[0] != "cat" {
			t.Errorf("%q %q: command %q: a bare --compress took the command as its value", tt.file, tt.args, c.Command)
		}
	}
	for _, bad := range []string{"--compress=fast", "--compress=context"} {
		if _, err := parseWith(t, "", bad, "cat"); err == nil || !strings.Contains(err.Error(), "compress") {
			t.Errorf("%s: %v, want an error naming --compress", bad, err)
		}
	}
}
