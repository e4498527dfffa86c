package server

import "testing"

func TestListenPort(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cfg  Config
		want int
	}{
		{Config{}, 80},
		{Config{SSL: true}, 443},
		{Config{Port: 8080, SSL: true}, 8080},
	} {
		if got := tt.cfg.ListenPort(); got != tt.want {
			t.Errorf("%+v: %d, want %d", tt.cfg, got, tt.want)
		}
	}
}
