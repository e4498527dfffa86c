package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The slow topologies (Sentinel: five processes; Cluster: six and a
// slot assignment) are started once per test binary through a Fixture and
// stopped by its Stop, called from TestMain.

// errMissing: a Debian tool the topology needs is not installed.
var errMissing = errors.New("not installed")

// Fixture starts a topology once, for every test of the package that asks.
type Fixture[T interface{ Stop() }] struct {
	once  sync.Once
	v     T
	err   error
	start func() (T, error)
}

// NewFixture returns a fixture that runs start the first time a test asks.
func NewFixture[T interface{ Stop() }](start func() (T, error)) *Fixture[T] {
	return &Fixture[T]{start: start}
}

// Get starts the topology the first time, and skips the test when a tool
// is missing (fails under CI=true) or fails it when the topology did not
// start.
func (f *Fixture[T]) Get(t testing.TB) T {
	t.Helper()
	f.once.Do(func() { f.v, f.err = f.start() })
	switch {
	case errors.Is(f.err, errMissing) && os.Getenv("CI") == "":
		t.Skip(f.err)
	case f.err != nil:
		t.Fatal(f.err)
	}
	return f.v
}

// Stop stops the topology if it was started.
func (f *Fixture[T]) Stop() {
	f.once.Do(func() { f.err = errors.New("stopped") })
	if f.err == nil {
		f.v.Stop()
	}
}

func lookTool(name string) (string, error) {
	bin, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, errMissing)
	}
	return bin, nil
}

// newServer makes (does not start) a redis-server on a free port with
// args; plus > 0 also keeps port+plus free.
func newServer(bin string, plus int, args ...string) (*Server, error) {
	p, err := port(plus)
	if err != nil {
		return nil, err
	}
	return &Server{bin: bin, Port: p, args: args}, nil
}

// command runs one command on addr.
func command(ctx context.Context, addr string, args ...any) (any, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true, Protocol: 2})
	defer c.Close()
	return c.Do(ctx, args...).Result()
}

// poll calls check every 50 ms until it answers nil or the timeout
// passes, then answers its last error.
func poll(timeout time.Duration, what string, check func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := check(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s within %s: %w", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// infoField reads one field of INFO section on addr.
func infoField(ctx context.Context, addr, section, field string) (string, error) {
	v, err := command(ctx, addr, "INFO", section)
	if err != nil {
		return "", err
	}
	s, _ := v.(string)
	for _, line := range strings.Split(s, "\r\n") {
		if k, val, ok := strings.Cut(line, ":"); ok && k == field {
			return val, nil
		}
	}
	return "", fmt.Errorf("INFO %s has no %s", section, field)
}

// Sentinel is one master, one replica and three sentinels (quorum 2)
// on loopback, with short timeouts: a dead master is replaced in a few
// seconds.
type Sentinel struct {
	Name      string // the master's name (--redis-master)
	Master    *Server
	Replica   *Server
	Sentinels []*Server
	dir       string
}

// SentinelDownAfter is the sentinels' down-after-milliseconds.
const SentinelDownAfter = time.Second

// StartSentinel starts the topology and waits until the sentinels know
// the replica and each other.
func StartSentinel() (*Sentinel, error) {
	bin, err := lookTool("redis-server")
	if err != nil {
		return nil, err
	}
	sbin, err := lookTool("redis-sentinel")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "redistest-sentinel-")
	if err != nil {
		return nil, err
	}
	s := &Sentinel{Name: "wsbridge-test", dir: dir}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	// Their own folder: a replica's full sync writes an RDB file there.
	if s.Master, err = newServer(bin, 0, "--dir", dir); err != nil {
		return nil, err
	}
	if err := s.Master.start(); err != nil {
		return nil, err
	}
	if s.Replica, err = newServer(bin, 0, "--dir", dir, "--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port)); err != nil {
		return nil, err
	}
	if err := s.Replica.start(); err != nil {
		return nil, err
	}
	if err := poll(10*time.Second, "the replica in sync", func(ctx context.Context) error {
		v, err := infoField(ctx, s.Replica.Addr(), "replication", "master_link_status")
		if err == nil && v != "up" {
			err = fmt.Errorf("master_link_status %s", v)
		}
		return err
	}); err != nil {
		return nil, err
	}
	for i := range 3 {
		p, err := port(0)
		if err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "sentinel-"+strconv.Itoa(p)+".conf")
		// The file is the sentinel's own: it rewrites it with what it
		// learns (replicas, other sentinels, the current epoch).
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\nloglevel warning\ndir %s\n"+
			"sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s 4000\n"+
			"sentinel parallel-syncs %s 1\n",
			p, dir, s.Name, s.Master.Port, s.Name, SentinelDownAfter.Milliseconds(), s.Name, s.Name)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return nil, err
		}
		sn := &Server{bin: sbin, Port: p, sentinelConf: conf}
		s.Sentinels = append(s.Sentinels, sn)
		if err := sn.start(); err != nil {
			return nil, fmt.Errorf("sentinel %d: %w", i, err)
		}
	}
	for _, sn := range s.Sentinels {
		if err := poll(20*time.Second, "the sentinels know the replica and each other", func(ctx context.Context) error {
			v, err := command(ctx, sn.Addr(), "SENTINEL", "REPLICAS", s.Name)
			if err != nil {
				return err
			}
			if r, _ := v.([]any); len(r) < 1 {
				return errors.New("no replica known")
			}
			v, err = command(ctx, sn.Addr(), "SENTINEL", "SENTINELS", s.Name)
			if err != nil {
				return err
			}
			if r, _ := v.([]any); len(r) < 2 {
				return fmt.Errorf("%d other sentinels known", len(r))
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	ok = true
	return s, nil
}

// Addrs is the --redis-sentinel list.
func (s *Sentinel) Addrs() string {
	var a []string
	for _, sn := range s.Sentinels {
		a = append(a, sn.Addr())
	}
	return strings.Join(a, ",")
}

// MasterAddr is the master the first sentinel that answers names.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	var last error = errors.New("no sentinel")
	for _, sn := range s.Sentinels {
		v, err := command(ctx, sn.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.Name)
		if err != nil {
			last = err
			continue
		}
		if r, _ := v.([]any); len(r) == 2 {
			return fmt.Sprint(r[0]) + ":" + fmt.Sprint(r[1]), nil
		}
	}
	return "", last
}

// WaitMaster waits until the sentinels name a master other than old, and
// answers it.
func (s *Sentinel) WaitMaster(old string, timeout time.Duration) (string, error) {
	var now string
	err := poll(timeout, "a new master", func(ctx context.Context) error {
		a, err := s.MasterAddr(ctx)
		if err != nil {
			return err
		}
		if a == old {
			return errors.New("still " + old)
		}
		role, err := infoField(ctx, a, "replication", "role")
		if err == nil && role != "master" {
			err = fmt.Errorf("%s is still a %s", a, role)
		}
		now = a
		return err
	})
	return now, err
}

// LagReplica stops the replica (SIGSTOP) and cuts its link from the
// master: what the master takes from now on the replica never gets, as
// when asynchronous replication falls behind before a crash. Thaw the
// replica to let it be promoted.
func (s *Sentinel) LagReplica(ctx context.Context) error {
	s.Replica.Freeze()
	_, err := command(ctx, s.Master.Addr(), "CLIENT", "KILL", "TYPE", "replica")
	return err
}

// Stop kills every process and removes the sentinels' files.
func (s *Sentinel) Stop() {
	for _, sn := range s.Sentinels {
		sn.Kill()
	}
	if s.Master != nil {
		s.Master.Kill()
	}
	if s.Replica != nil {
		s.Replica.Kill()
	}
	os.RemoveAll(s.dir)
}
