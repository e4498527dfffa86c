package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestParseNodes: the node lists of --redis-sentinel and --redis-cluster,
// with TLS and credentials for every node; errors never show a password.
func TestParseNodes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Nodes
		err  string
	}{
		{in: "10.0.0.1:26379,10.0.0.2:26379", want: Nodes{Addrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"}}},
		{in: "rediss://app:p%40ss@h1:6379,[::1]:6380", want: Nodes{Addrs: []string{"h1:6379", "[::1]:6380"}, TLS: true, Username: "app", Password: "p@ss"}},
		{in: "redis://:secret@h:1/", want: Nodes{Addrs: []string{"h:1"}, Password: "secret"}},
		{in: "h", err: `"h": want HOST:PORT`},
		{in: "rediss://u:secret@h:99999", err: "port must be 1-65535"},
		{in: "http://h:1", err: `scheme "http"`},
		{in: "h:1,,h:2", err: `"": want HOST:PORT`},
	} {
		got, err := ParseNodes(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			} else if strings.Contains(err.Error(), "secret") {
				t.Errorf("%q: the error shows the password: %v", tc.in, err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case strings.Join(got.Addrs, ",") != strings.Join(tc.want.Addrs, ",") || got.TLS != tc.want.TLS ||
			got.Username != tc.want.Username || got.Password != tc.want.Password:
			t.Errorf("%q: %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestTopologyClients: each topology makes the go-redis client that
// follows it, with TLS, the password of --redis-password-file over the
// list's, and the sentinels' own password.
func TestTopologyClients(t *testing.T) {
	tlsNodes := &Nodes{Addrs: []string{"h1:1", "h2:2"}, TLS: true, Username: "u", Password: "from-list"}

	newClient, err := topology(&Options{Sentinel: tlsNodes, MasterName: "m", Password: "from-file", SentinelPassword: "sentinels", Lease: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(1)
	defer c.Close()
	fc, ok := c.(*redis.Client)
	if !ok {
		t.Fatalf("sentinel: a %T", c)
	}
	if o := fc.Options(); o.TLSConfig == nil || o.Password != "from-file" || o.Username != "u" || o.PoolSize != 1 {
		t.Errorf("sentinel: TLS %v, user %q, password %q, pool %d", o.TLSConfig != nil, o.Username, o.Password, o.PoolSize)
	}

	newClient, err = topology(&Options{Cluster: tlsNodes, Lease: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c = newClient(0)
	defer c.Close()
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("cluster: a %T", c)
	}
	if o := cc.Options(); o.TLSConfig == nil || o.TLSConfig.ServerName != "" || o.Password != "from-list" || o.Username != "u" {
		t.Errorf("cluster: TLS %v (server name %q: each node's own), user %q, password %q", o.TLSConfig != nil, o.TLSConfig.ServerName, o.Username, o.Password)
	}
}
