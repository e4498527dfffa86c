//go:build unix

package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// A figure is one row of the table.
type figure struct {
	label  string
	unit   string
	higher bool   // higher is better
	ref    string // the reference target beside websocketd, if any
	target string // the target, as text
}

var (
	figEcho1         = &figure{"echo 64 B, 1 connection, 64 in flight", "msgs/s", true, "ceiling", "≥ 1.5x websocketd, ≥ 0.7x ceiling"}
	figCPU1          = &figure{"CPU per message (daemon + cat), 1 connection", "µs", false, "ceiling", "≤ 1/2 of websocketd's"}
	figEcho8         = &figure{"echo 64 B, 8 connections, 64 in flight each", "msgs/s", true, "ceiling", "≥ 1.5x websocketd"}
	figCPU8          = &figure{"CPU per message, 8 connections", "µs", false, "ceiling", ""}
	figEcho64K       = &figure{"echo 64 KiB, 2 in flight", "MB/s", true, "ceiling", "≥ 1.3x websocketd"}
	figCPU64K        = &figure{"CPU per 64 KiB message", "µs", false, "ceiling", ""}
	figP50           = &figure{"round trip p50, 1 in flight", "µs", false, "ceiling", "≤ 1/1.5 of websocketd's"}
	figP99           = &figure{"round trip p99, 1 in flight", "µs", false, "ceiling", ""}
	figConnect       = &figure{"connect + spawn + echo + close, 4 in parallel", "conns/s", true, "fork/exec", "≥ 1.2x websocketd, ≥ 0.9x fork/exec"}
	figConnectCPU    = &figure{"CPU per connection (daemon + cat)", "µs", false, "fork/exec", ""}
	figConnectSelf   = &figure{"CPU per connection, daemon alone", "µs", false, "fork/exec", ""}
	figConnectClient = &figure{"CPU per connection, this client (load generator)", "µs", false, "fork/exec", ""}
	figIdleRSS       = &figure{"RSS per idle session", "KB", false, "ceiling", "≤ 20 KB"}
	figIdleFDs       = &figure{"descriptors per session in the daemon", "fds", false, "ceiling", "≤ 3"}
)

var figures = []*figure{figEcho1, figCPU1, figEcho8, figCPU8, figEcho64K, figCPU64K, figP50, figP99, figConnect, figConnectCPU, figConnectSelf, figConnectClient, figIdleRSS, figIdleFDs}

type results struct {
	values map[*figure]map[string][]float64
}

func newResults() *results { return &results{values: map[*figure]map[string][]float64{}} }

func (r *results) add(f *figure, target string, v float64) {
	if r.values[f] == nil {
		r.values[f] = map[string][]float64{}
	}
	r.values[f][target] = append(r.values[f][target], v)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// cell is "median (min–max)", or the value alone when measured once.
func cell(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	if len(v) == 1 {
		return num(v[0])
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return fmt.Sprintf("%s (%s–%s)", num(median(s)), num(s[0]), num(s[len(s)-1]))
}

func num(x float64) string {
	switch {
	case x >= 1000:
		return fmt.Sprintf("%.0f", x)
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

// ratio is how much better wsbridge's median is than other's: above 1,
// wsbridge is ahead, whichever way the unit points.
func (r *results) ratio(f *figure, other string) string {
	a, b := r.values[f]["wsbridge"], r.values[f][other]
	if len(a) == 0 || len(b) == 0 {
		return "–"
	}
	ma, mb := median(a), median(b)
	if ma <= 0 || mb <= 0 {
		return "–"
	}
	x := ma / mb
	if !f.higher {
		x = mb / ma
	}
	return fmt.Sprintf("%.2fx", x)
}

func (r *results) print(w io.Writer, rounds int, names []string) {
	fmt.Fprintf(w, "Medians of %d alternating rounds (range in brackets); \"x\" columns: how many times better wsbridge is (above 1: ahead).\n\n", rounds)
	head := append([]string{"figure", "unit"}, names...)
	head = append(head, "x websocketd", "x ceiling or fork/exec", "target")
	withBaseline := slices.Contains(names, "baseline")
	if withBaseline {
		head = append(head, "x baseline")
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat(" --- |", len(head)))
	for _, f := range figures {
		vals := r.values[f]
		if vals == nil {
			continue
		}
		row := []string{f.label, f.unit}
		for _, n := range names {
			row = append(row, cell(vals[n]))
		}
		ref := r.ratio(f, f.ref)
		if f == figIdleRSS || f == figIdleFDs {
			ref = "–"
		}
		row = append(row, r.ratio(f, "websocketd"), ref, f.target)
		if withBaseline {
			row = append(row, r.ratio(f, "baseline"))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
}
