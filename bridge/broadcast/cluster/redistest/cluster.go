package redistest

// This file starts a real Redis Cluster for the tests.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three masters on loopback, each with a
// replica when asked, with a short node timeout: a dead master's replica
// takes over in a few seconds. cluster-require-full-coverage is off, so
// that the slots of live masters keep answering while one is down.
type Cluster struct {
	Nodes []*Server // masters first, then replicas as created
	dir   string
}

// ClusterNodeTimeout is the nodes' cluster-node-timeout.
const ClusterNodeTimeout = time.Second

// StartCluster starts three masters (and with replicas, one replica
// each), creates the cluster with redis-cli and waits until every node
// says it is ok.
func StartCluster(replicas bool) (*Cluster, error) {
	bin, err := lookTool("redis-server")
	if err != nil {
		return nil, err
	}
	cli, err := lookTool("redis-cli")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "redistest-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	n := 3
	if replicas {
		n = 6
	}
	create := []string{"--cluster", "create"}
	for range n {
		p, err := port(10000)
		if err != nil {
			return nil, err
		}
		s, err := newServer(bin, 0, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(p)+".conf"),
			"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout.Milliseconds())),
			"--cluster-require-full-coverage", "no", "--cluster-replica-validity-factor", "0",
			"--dir", dir)
		if err != nil {
			return nil, err
		}
		s.Port = p
		c.Nodes = append(c.Nodes, s)
		if err := s.start(); err != nil {
			return nil, err
		}
		create = append(create, s.Addr())
	}
	if replicas {
		create = append(create, "--cluster-replicas", "1")
	}
	out, err := exec.Command(cli, append(create, "--cluster-yes")...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %w: %s", err, out)
	}
	for _, s := range c.Nodes {
		if err := c.waitOK(s.Addr(), 20*time.Second); err != nil {
			return nil, err
		}
	}
	if replicas {
		// Every master's replica in sync: a failover can promote it,
		// and WAIT has one to count.
		for _, s := range c.Nodes {
			if err := poll(20*time.Second, s.Addr()+" in sync", func(ctx context.Context) error {
				role, err := infoField(ctx, s.Addr(), "replication", "role")
				if err != nil || role != "master" {
					return err
				}
				info, err := command(ctx, s.Addr(), "INFO", "replication")
				if err != nil {
					return err
				}
				if text, _ := info.(string); !strings.Contains(text, "state=online") {
					return errors.New("no replica online")
				}
				return nil
			}); err != nil {
				return nil, err
			}
		}
	}
	ok = true
	return c, nil
}

func (c *Cluster) waitOK(addr string, timeout time.Duration) error {
	return poll(timeout, addr+" cluster_state:ok", func(ctx context.Context) error {
		v, err := command(ctx, addr, "CLUSTER", "INFO")
		if err != nil {
			return err
		}
		if s, _ := v.(string); !strings.Contains(s, "cluster_state:ok") {
			return errors.New("not ok")
		}
		return nil
	})
}

// Addrs is the --redis-cluster list: every node.
func (c *Cluster) Addrs() string {
	var a []string
	for _, s := range c.Nodes {
		a = append(a, s.Addr())
	}
	return strings.Join(a, ",")
}

// MasterOf answers the node serving key's slot, as a live node says.
func (c *Cluster) MasterOf(ctx context.Context, key string) (*Server, error) {
	var last error = errors.New("no node answers")
	for _, s := range c.Nodes {
		if s.cmd == nil {
			continue
		}
		cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{s.Addr()}, MaxRedirects: 3, DisableIdentity: true, Protocol: 2})
		shards, err := cl.ClusterSlots(ctx).Result()
		slot, err2 := cl.ClusterKeySlot(ctx, key).Result()
		cl.Close()
		if err != nil || err2 != nil {
			last = errors.Join(err, err2)
			continue
		}
		for _, sh := range shards {
			if int64(sh.Start) <= slot && slot <= int64(sh.End) && len(sh.Nodes) > 0 {
				for _, n := range c.Nodes {
					if n.Addr() == sh.Nodes[0].Addr {
						return n, nil
					}
				}
			}
		}
		return nil, fmt.Errorf("slot %d of %q has no known master", slot, key)
	}
	return nil, last
}

// WaitSlotMaster waits until a live node other than old serves key's
// slot and every live node says the cluster is ok, and answers it.
func (c *Cluster) WaitSlotMaster(key string, old *Server, timeout time.Duration) (*Server, error) {
	var now *Server
	err := poll(timeout, "a new master for "+key, func(ctx context.Context) error {
		m, err := c.MasterOf(ctx, key)
		if err != nil {
			return err
		}
		if m == old {
			return errors.New("still the old master")
		}
		now = m
		return nil
	})
	return now, err
}

// Stop kills every node and removes their files.
func (c *Cluster) Stop() {
	for _, s := range c.Nodes {
		s.Kill()
	}
	os.RemoveAll(c.dir)
}
