package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/wsbridge/wsbridge/bridge"
	"github.com/wsbridge/wsbridge/bridge/server"
)

// envPrefix names the environment variables that set flags: WSBRIDGE_PORT,
// WSBRIDGE_MAXFORKS, WSBRIDGE_TRUSTED_PROXY (lists comma separated).
const envPrefix = "WSBRIDGE"

// commandKey is the config file's key for the program to run.
const commandKey = "command"

// notInFile are flags a config file cannot set; hidden flags (such as
// --help-man) cannot be set there either.
var notInFile = map[string]bool{"help": true, "version": true, "config": true}

// inFile reports whether a config file may set f.
func inFile(f *kong.Flag) bool { return !notInFile[f.Name] && !f.Hidden }

// noEnvForHidden undoes kong.DefaultEnvars for hidden flags: a variable
// left in the environment must not turn on --help-man and the like.
func noEnvForHidden() kong.Option {
	return kong.PostBuild(func(k *kong.Kong) error {
		for _, f := range k.Model.Flags {
			if f.Hidden {
				f.Envs = nil
				f.Value.Tag.Envs = nil
			}
		}
		return nil
	})
}

// configSource fills in the flags the command line left unset: first from
// the environment (WSBRIDGE_<FLAG>), then from the --config file, so the
// precedence is command line > environment > file > defaults.
//
// kong applies environment variables together with the defaults, before any
// resolver, and takes a resolver's value over them; so this resolver looks at
// the environment first itself. kong resolvers see flags only: the command is
// read from the file here and applied by run (see fillCommand).
type configSource struct {
	loadedFor *kong.Context
	path      string
	values    map[string]configEntry
	command   []string
	endpoints []configEndpoint // the [[endpoint]] tables
}

type configEntry struct {
	value any // as kong's mappers take it
	line  int
}

// configError is a problem with the config file: exit status 1 (bad
// configuration), not 2 (bad flags).
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// load reads the --config file (from the command line or WSBRIDGE_CONFIG).
// It runs as kong's BeforeResolve hook, which kong calls once per element of
// the parsed path; the first call of each parse does the work.
func (s *configSource) load(ctx *kong.Context) error {
	if s.loadedFor == ctx {
		return nil
	}
	s.loadedFor = ctx
	s.path, s.values, s.command, s.endpoints = "", nil, nil, nil
	known := map[string]*kong.Flag{}
	var configFlag *kong.Flag
	for _, f := range ctx.Model.Flags {
		if f.Name == "config" {
			configFlag = f
		}
		if inFile(f) {
			known[f.Name] = f
		}
	}
	if configFlag == nil {
		return nil
	}
	path, _ := ctx.FlagValue(configFlag).(string)
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return &configError{fmt.Errorf("--config: %w", err)}
	}
	values, command, endpoints, err := parseConfig(path, data, known)
	if err != nil {
		return &configError{err}
	}
	s.path, s.values, s.command, s.endpoints = path, values, command, endpoints
	return nil
}

// Validate is part of kong.Resolver; load has checked every key already.
func (s *configSource) Validate(*kong.Application) error { return nil }

// Resolve is part of kong.Resolver.
func (s *configSource) Resolve(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
	e, ok := s.values[flag.Name]
	if !ok {
		// kong has applied the environment variable, if any, already.
		return nil, nil
	}
	for _, env := range flag.Envs {
		if v, ok := os.LookupEnv(env); ok {
			return v, nil
		}
	}
	return e.value, nil
}

// fillCommand takes the command from the file when the command line gave
// none, and the file's endpoints.
func (s *configSource) fillCommand(c *cli) {
	if len(c.Command) == 0 && len(s.command) > 0 {
		c.Command = append([]string(nil), s.command...)
	}
	c.fileEndpoints = s.endpoints
}

// parseConfig reads a TOML document whose top-level keys are flag names, plus
// "command", and [[endpoint]] tables. Every error names the file and line.
func parseConfig(path string, data []byte, known map[string]*kong.Flag) (map[string]configEntry, []string, []configEndpoint, error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, nil, nil, fmt.Errorf("%s:%d:%d: %s", path, row, col, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}

	values := map[string]configEntry{}
	var command []string
	var endpoints []configEndpoint
	tables, _ := doc[endpointKey].([]map[string]any)
	if list, ok := doc[endpointKey].([]any); ok {
		for _, t := range list {
			if m, ok := t.(map[string]any); ok {
				tables = append(tables, m)
			}
		}
	}
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind != unstable.KeyValue && e.Kind != unstable.Table && e.Kind != unstable.ArrayTable {
			continue
		}
		var parts []string
		line := 0
		for it := e.Key(); it.Next(); {
			k := it.Node()
			parts = append(parts, string(k.Data))
			if line == 0 && k.Raw.Length > 0 {
				line = p.Shape(k.Raw).Start.Line
			}
		}
		name := strings.Join(parts, ".")
		where := fmt.Sprintf("%s:%d", path, line)
		if e.Kind == unstable.ArrayTable && name == endpointKey && len(endpoints) < len(tables) {
			endpoints = append(endpoints, configEndpoint{where: where, line: line, keys: map[string]configEntry{}})
			continue
		}
		if e.Kind != unstable.KeyValue {
			return nil, nil, nil, fmt.Errorf("%s: [%s]: tables are not used but [[endpoint]]; put every other setting at the top of the file as name = value", where, name)
		}
		if len(endpoints) > 0 {
			ep := &endpoints[len(endpoints)-1]
			if err := ep.set(name, tables[len(endpoints)-1][name], where, known); err != nil {
				return nil, nil, nil, err
			}
			continue
		}
		if name == commandKey {
			cmd, ok := stringList(doc[name])
			if !ok || len(cmd) == 0 {
				return nil, nil, nil, fmt.Errorf(`%s: command: want a non-empty array of strings, such as command = ["./count.sh", "--fast"]`, where)
			}
			command = cmd
			continue
		}
		flag := known[name]
		if flag == nil {
			msg := fmt.Sprintf("%s: unknown key %q", where, name)
			if notInFile[name] {
				msg = fmt.Sprintf("%s: %q cannot be set in a config file", where, name)
			} else if guess := closestKey(name, known); guess != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", guess)
			}
			return nil, nil, nil, errors.New(msg)
		}
		v, err := flagValue(flag, doc[name])
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %s: %w", where, name, err)
		}
		values[name] = configEntry{value: v, line: line}
	}
	if err := p.Error(); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, ep := range endpoints {
		if ep.path == "" {
			return nil, nil, nil, fmt.Errorf(`%s: [[endpoint]]: want a path, such as path = "/echo"`, ep.where)
		}
	}
	return values, command, endpoints, nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// flagValue checks a TOML value against the flag's type and returns it in a
// form kong's mappers take.
func flagValue(flag *kong.Flag, v any) (any, error) {
	t := flag.Target.Type()
	switch {
	case t == durationType:
		if s, ok := v.(string); ok {
			if _, err := time.ParseDuration(s); err != nil {
				return nil, fmt.Errorf("want a duration such as \"10s\" or \"1m30s\", got %q", s)
			}
			return s, nil
		}
		return nil, fmt.Errorf("want a duration string such as \"10s\", got %s", tomlType(v))
	case t == reflect.TypeOf(compressMode("")):
		switch v.(type) {
		case bool, string:
			return v, nil // compressMode.Decode checks it
		}
		return nil, fmt.Errorf("want true, false or a mode string, got %s", tomlType(v))
	case t.Kind() == reflect.Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("want true or false, got %s", tomlType(v))
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		if n, ok := v.(int64); ok {
			return strconv.FormatInt(n, 10), nil
		}
		return nil, fmt.Errorf("want an integer, got %s", tomlType(v))
	case t.Kind() == reflect.Slice:
		if s, ok := v.(string); ok {
			return []any{s}, nil
		}
		if list, ok := stringList(v); ok {
			out := make([]any, len(list))
			for i, s := range list {
				out[i] = s
			}
			return out, nil
		}
		return nil, fmt.Errorf("want a string or an array of strings, got %s", tomlType(v))
	default:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %s", tomlType(v))
		}
		if flag.Enum != "" && !flag.EnumMap()[s] {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(flag.EnumSlice(), ", "))
		}
		return s, nil
	}
}

func stringList(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

func tomlType(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", v)
	case int64:
		return fmt.Sprintf("the integer %d", v)
	case float64:
		return fmt.Sprintf("the number %v", v)
	case bool:
		return fmt.Sprintf("%v", v)
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// closestKey suggests a known key within two edits of a misspelt one.
func closestKey(name string, known map[string]*kong.Flag) string {
	names := make([]string, 0, len(known)+1)
	for k := range known {
		names = append(names, k)
	}
	names = append(names, commandKey)
	sort.Strings(names)
	best, bestD := "", 3
	for _, k := range names {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// configFailure reports a config-file error from parsing, which exits with
// status 1 rather than the 2 of a bad flag.
func configFailure(err error, stderr io.Writer) (int, bool) {
	var ce *configError
	if !errors.As(err, &ce) {
		return 0, false
	}
	fmt.Fprintf(stderr, "wsbridge: %v\n", ce)
	return exitBadConfig, true
}

// reparse parses args as run did at startup, with the same kong options (and
// so the same resolver, which re-reads the config file): the server's
// Config.Reparse, on SIGHUP.
func reparse(args []string, opts []kong.Option, src *configSource, log io.Writer) (*server.Config, error) {
	c, k, err := parseCLI(args, opts, src)
	if err != nil {
		return nil, err
	}
	return c.serverConfig(k, log)
}

// parseCLI parses args into a new cli with opts, the command from the
// config file filled in. kong's exit after --help or --version comes back
// as an exitRequest error, a struct kong refuses as a *parserError.
func parseCLI(args []string, opts []kong.Option, src *configSource) (c *cli, k *kong.Kong, err error) {
	c = new(cli)
	k, err = kong.New(c, opts...)
	if err != nil {
		return nil, nil, &parserError{err}
	}
	defer func() {
		if r := recover(); r != nil {
			req, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			c, k, err = nil, nil, req
		}
	}()
	if _, err := k.Parse(websocketdFlags(args, k)); err != nil {
		return nil, nil, err
	}
	src.fillCommand(c)
	return c, k, nil
}

// endpointKey names the config file's [[endpoint]] tables, and the
// --endpoint flag of the same meaning.
const endpointKey = "endpoint"

// configEndpoint is one [[endpoint]] table: its path, its command, and its
// session flags by name, in the form kong's mappers take.
type configEndpoint struct {
	where   string // file:line of its [[endpoint]], for errors
	line    int
	path    string
	command []string
	keys    map[string]configEntry
}

// set reads one key of the table: path, command, or a session flag.
func (ep *configEndpoint) set(name string, v any, where string, known map[string]*kong.Flag) error {
	what := "[[endpoint]]"
	if ep.path != "" {
		what = "endpoint " + ep.path
	}
	switch name {
	case "path":
		p, ok := v.(string)
		if !ok {
			return fmt.Errorf(`%s: %s: path: want a string such as "/echo", got %s`, where, what, tomlType(v))
		}
		if err := checkEndpointPath(p); err != nil {
			return fmt.Errorf("%s: %s: path: %w", where, what, err)
		}
		ep.path = p
		return nil
	case commandKey:
		cmd, ok := stringList(v)
		if !ok || len(cmd) == 0 {
			return fmt.Errorf(`%s: %s: command: want a non-empty array of strings, such as command = ["cat"]`, where, what)
		}
		ep.command = cmd
		return nil
	}
	flag := known[name]
	if flag == nil || !slices.Contains(sessionFlags, name) {
		msg := fmt.Sprintf("%s: %s: unknown key %q", where, what, name)
		if flag != nil {
			msg = fmt.Sprintf("%s: %s: %q is a server-level flag, the same for every endpoint: set it at the top of the file", where, what, name)
		} else if guess := closestKey(name, sessionFlagSet(known)); guess != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", guess)
		}
		return errors.New(msg)
	}
	val, err := flagValue(flag, v)
	if err != nil {
		return fmt.Errorf("%s: %s: %s: %w", where, what, name, err)
	}
	ep.keys[name] = configEntry{value: val}
	return nil
}

// sessionFlagSet is known restricted to the session flags.
func sessionFlagSet(known map[string]*kong.Flag) map[string]*kong.Flag {
	out := map[string]*kong.Flag{"path": nil}
	for _, name := range sessionFlags {
		out[name] = known[name]
	}
	return out
}

// checkEndpointPath accepts an absolute, clean URL path: "/echo" (exact) or
// "/term/" (prefix).
func checkEndpointPath(p string) error {
	if !strings.HasPrefix(p, "/") || bridge.CleanPath(p) != p || strings.ContainsAny(p, "?#") {
		return fmt.Errorf("%q: want an absolute, clean URL path such as /echo (exact) or /term/ (a prefix)", p)
	}
	return nil
}
