package main

import (
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

func TestWebsocketdFlags(t *testing.T) {
	t.Parallel()
	var c cli
	parser, err := kong.New(&c)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"-port=8080 cat", "--port=8080 cat"},
		{"-port 8080 -address 127.0.0.1 cat", "--port 8080 --address 127.0.0.1 cat"},
		{"--port 8080 -binary cat -port 9", "--port 8080 --binary cat -port 9"},
		{"-passstderr -maxforks 3 -- sh -c x", "--passstderr --maxforks 3 -- sh -c x"},
		{"-h", "-h"},
		{"-unknown cat", "-unknown cat"},
	}
	for _, tt := range tests {
		got := strings.Join(websocketdFlags(strings.Fields(tt.in), parser), " ")
		if got != tt.want {
			t.Errorf("%q -> %q, want %q", tt.in, got, tt.want)
		}
	}
}
