// Package bench measures the protocol end to end: several devices, each
// with its own store and (by default) its own libp2p host on loopback, in
// one process. It is what `berty bench` runs; docs/benchmarks.md keeps the
// figures.
package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/berty-go/berty/messenger/payloadpb"
)

// Options configure a run. Zero values are documented per field.
type Options struct {
	Scenarios []string // latency, throughput, catchup (nil: all three)
	Members   []int    // group sizes for throughput (nil: 2, 3, 5); latency and catch-up use 2
	Messages  int      // messages per scenario (0: latency 1 000, throughput 10 000, catch-up 1 000 and 10 000)
	Transport string   // tcp (default), quic, or memnet (in-process)
	Store     string   // sqlite (default, durable) or mem
	// Plaintext leaves the SQLite files unencrypted (encryption at rest is
	// on by default, as for a user).
	Plaintext bool
	// Protocol leaves the messenger out (its projection in every commit):
	// the protocol's own cost, what issue 3's targets are about.
	Protocol bool
	JSON     bool // one JSON object per line per scenario
	Timeout  time.Duration
	Dir      string    // for the databases ("": a temporary directory)
	Out      io.Writer // results
	Progress io.Writer // progress lines (nil: none)
}

// Result is one scenario's figures; its JSON form is what --json prints.
type Result struct {
	Scenario    string  `json:"scenario"`
	Members     int     `json:"members"`
	Messages    int     `json:"messages"`
	Delivered   int     `json:"delivered"`
	Seconds     float64 `json:"seconds"`
	MsgsPerSec  float64 `json:"msgs_per_sec"`
	LatencyP50  float64 `json:"latency_p50_ms"`
	LatencyP95  float64 `json:"latency_p95_ms"`
	LatencyP99  float64 `json:"latency_p99_ms"`
	CPUPerMsg   float64 `json:"cpu_us_per_msg"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	Transport   string  `json:"transport"`
	Store       string  `json:"store"`
	Layer       string  `json:"layer"`                   // messenger (the full stack) or protocol
	FirstMillis float64 `json:"first_ms,omitempty"`      // catch-up: until the first message
	CallsPerSec float64 `json:"calls_per_sec,omitempty"` // send: the sender's calls alone
}

// Run runs the scenarios and writes their results.
func Run(o Options) ([]Result, error) {
	if o.Transport == "" {
		o.Transport = "tcp"
	}
	if o.Store == "" {
		o.Store = "sqlite"
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Scenarios == nil {
		o.Scenarios = []string{"latency", "throughput", "catchup"}
	}
	if o.Members == nil {
		o.Members = []int{2, 3, 5}
	}
	switch o.Transport {
	case "tcp", "quic", "memnet":
	default:
		return nil, fmt.Errorf("unknown transport %q: use tcp, quic or memnet", o.Transport)
	}
	if o.Store != "sqlite" && o.Store != "mem" {
		return nil, fmt.Errorf("unknown store %q: use sqlite or mem", o.Store)
	}
	if o.Store == "mem" && o.Transport != "memnet" {
		return nil, fmt.Errorf("--store mem needs --transport memnet (a libp2p device keeps a SQLite file)")
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "berty-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if !o.JSON {
		fmt.Fprintf(o.Out, "%-10s %7s %8s %9s %8s %10s %8s %8s %8s %9s %8s\n", "scenario", "members", "messages",
			"delivered", "seconds", "msgs/s", "p50 ms", "p99 ms", "cpu µs", "rss MiB", "net")
	}
	var out []Result
	emit := func(r Result) error {
		r.Transport, r.Store, r.Layer = o.Transport, o.Store, "messenger"
		if o.Protocol || o.Transport == "memnet" {
			r.Layer = "protocol"
		}
		out = append(out, r)
		if o.JSON {
			b, _ := json.Marshal(r)
			_, err := fmt.Fprintln(o.Out, string(b))
			return err
		}
		_, err := fmt.Fprintf(o.Out, "%-10s %7d %8d %9d %8.3f %10.0f %8.2f %8.2f %8.1f %9.1f %8s\n", r.Scenario, r.Members,
			r.Messages, r.Delivered, r.Seconds, r.MsgsPerSec, r.LatencyP50, r.LatencyP99, r.CPUPerMsg, r.PeakRSSMiB,
			o.Transport+"/"+o.Store+"/"+r.Layer)
		return err
	}
	for i, sc := range o.Scenarios {
		sub := fmt.Sprintf("%s/%d", dir, i)
		if err := os.MkdirAll(sub, 0o700); err != nil {
			return out, err
		}
		var rs []Result
		var err error
		switch sc {
		case "latency":
			rs, err = latency(o, sub)
		case "throughput":
			rs, err = throughput(o, sub)
		case "catchup":
			rs, err = catchup(o, sub)
		case "send":
			rs, err = send(o, sub)
		default:
			return out, fmt.Errorf("unknown scenario %q: use latency, send, throughput or catchup", sc)
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", sc, err)
		}
		for _, r := range rs {
			if err := emit(r); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

func pick(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func latency(o Options, dir string) ([]Result, error) {
	n := pick(o.Messages, 1000)
	members := 2
	c, err := newCluster(o, dir, members)
	if err != nil {
		return nil, err
	}
	defer c.close()
	for _, m := range c.members {
		m.when = map[string]time.Time{}
	}
	stop := c.progress(o, "latency", n)
	defer stop()
	resetPeakRSS()
	cpu0, t0 := cpuTime(), time.Now()
	lat := make([]float64, 0, n)
	base := c.members[1].received()
	for i := range n {
		body := string(textPayload(fmt.Sprintf("latency %d", i)))
		start := time.Now()
		if _, err := c.members[0].n.Send(c.topic, []byte(body)); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
		err := c.members[1].waitGot(ctx, base+i+1)
		cancel()
		if err != nil {
			return nil, err
		}
		c.members[1].mu.Lock()
		at := c.members[1].when[body]
		c.members[1].mu.Unlock()
		lat = append(lat, float64(at.Sub(start).Microseconds())/1000)
	}
	el := time.Since(t0)
	r := Result{Scenario: "latency", Members: members, Messages: n, Delivered: c.members[1].received() - base,
		Seconds: el.Seconds(), MsgsPerSec: float64(n) / el.Seconds(),
		CPUPerMsg: float64((cpuTime() - cpu0).Microseconds()) / float64(n), PeakRSSMiB: peakRSS()}
	slices.Sort(lat)
	r.LatencyP50, r.LatencyP95, r.LatencyP99 = quantile(lat, 0.50), quantile(lat, 0.95), quantile(lat, 0.99)
	return []Result{r}, nil
}

// send is how a chat UI sends: one member makes back-to-back calls, one
// message each, every call durable before it returns (persist before
// publish), without waiting for delivery; the other member receives. It
// reports the rate until the last message is delivered, CPU per message
// (both members, one process) and each message's time from its call to its
// delivery.
func send(o Options, dir string) ([]Result, error) {
	n := pick(o.Messages, 5000)
	members := 2
	c, err := newCluster(o, dir, members)
	if err != nil {
		return nil, err
	}
	defer c.close()
	rx := c.members[1]
	rx.when = map[string]time.Time{}
	stop := c.progress(o, "send", n)
	defer stop()
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = string(textPayload(fmt.Sprintf("send %d", i)))
	}
	started := make([]time.Time, n)
	base := rx.received()
	resetPeakRSS()
	cpu0, t0 := cpuTime(), time.Now()
	for i, body := range bodies {
		started[i] = time.Now()
		if _, err := c.members[0].n.Send(c.topic, []byte(body)); err != nil {
			return nil, err
		}
	}
	calls := time.Since(t0)
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	err = rx.waitGot(ctx, base+n)
	cancel()
	if err != nil {
		return nil, err
	}
	el := time.Since(t0)
	r := Result{Scenario: "send", Members: members, Messages: n, Delivered: rx.received() - base,
		Seconds: el.Seconds(), MsgsPerSec: float64(n) / el.Seconds(), CallsPerSec: float64(n) / calls.Seconds(),
		CPUPerMsg: float64((cpuTime() - cpu0).Microseconds()) / float64(n), PeakRSSMiB: peakRSS()}
	lat := make([]float64, 0, n)
	rx.mu.Lock()
	for i, body := range bodies {
		lat = append(lat, float64(rx.when[body].Sub(started[i]).Microseconds())/1000)
	}
	rx.mu.Unlock()
	slices.Sort(lat)
	r.LatencyP50, r.LatencyP95, r.LatencyP99 = quantile(lat, 0.50), quantile(lat, 0.95), quantile(lat, 0.99)
	return []Result{r}, nil
}

func throughput(o Options, dir string) ([]Result, error) {
	var out []Result
	for _, members := range o.Members {
		if members < 2 {
			return out, fmt.Errorf("a group needs at least 2 members, got %d", members)
		}
		total := pick(o.Messages, 10_000)
		per := total / members
		total = per * members
		sub := fmt.Sprintf("%s/m%d", dir, members)
		if err := os.MkdirAll(sub, 0o700); err != nil {
			return out, err
		}
		c, err := newCluster(o, sub, members)
		if err != nil {
			return out, err
		}
		stop := c.progress(o, fmt.Sprintf("throughput, %d members", members), total)
		base := make([]int, members)
		for i, m := range c.members {
			base[i] = m.received()
		}
		resetPeakRSS()
		cpu0, t0 := cpuTime(), time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, members)
		body := textPayload(strings.Repeat("x", 200))
		for _, m := range c.members {
			wg.Go(func() {
				for sent := 0; sent < per; sent += 100 {
					bodies := make([][]byte, min(100, per-sent))
					for i := range bodies {
						bodies[i] = body
					}
					if _, err := m.n.SendBatch(c.topic, bodies); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			stop()
			c.close()
			return out, err
		}
		err = c.waitAll(members - 1 + total - per)
		el := time.Since(t0)
		cpu := cpuTime() - cpu0
		stop()
		delivered := total
		for i, m := range c.members {
			delivered = min(delivered, m.received()-base[i]+per)
		}
		c.close()
		if err != nil {
			return out, err
		}
		out = append(out, Result{Scenario: "throughput", Members: members, Messages: total, Delivered: delivered,
			Seconds: el.Seconds(), MsgsPerSec: float64(total) / el.Seconds(),
			CPUPerMsg: float64(cpu.Microseconds()) / float64(total), PeakRSSMiB: peakRSS()})
	}
	return out, nil
}

func catchup(o Options, dir string) ([]Result, error) {
	sizes := []int{1000, 10_000}
	if o.Messages > 0 {
		sizes = []int{o.Messages}
	}
	var out []Result
	for _, n := range sizes {
		sub := fmt.Sprintf("%s/n%d", dir, n)
		if err := os.MkdirAll(sub, 0o700); err != nil {
			return out, err
		}
		c, err := newCluster(o, sub, 2)
		if err != nil {
			return out, err
		}
		a, b := c.members[0], c.members[1]
		b.close() // b goes offline
		b.n = nil
		for sent := 0; sent < n; sent += 100 {
			bodies := make([][]byte, min(100, n-sent))
			for i := range bodies {
				bodies[i] = textPayload(fmt.Sprintf("while away %d", sent+i))
			}
			if _, err := a.n.SendBatch(c.topic, bodies); err != nil {
				c.close()
				return out, err
			}
		}
		b.mu.Lock()
		b.got = 0
		b.when = map[string]time.Time{}
		b.mu.Unlock()
		resetPeakRSS()
		cpu0, t0 := cpuTime(), time.Now()
		if err := c.open(b); err != nil { // back online: same store, new host
			c.close()
			return out, err
		}
		if err := c.connect(); err != nil {
			c.close()
			return out, err
		}
		stop := c.progress(o, fmt.Sprintf("catch-up of %d", n), n)
		ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
		err = b.waitGot(ctx, n)
		cancel()
		el := time.Since(t0)
		stop()
		var first time.Time
		b.mu.Lock()
		for _, t := range b.when {
			if first.IsZero() || t.Before(first) {
				first = t
			}
		}
		got := b.got
		b.mu.Unlock()
		cpu := cpuTime() - cpu0
		c.close()
		if err != nil {
			return out, err
		}
		out = append(out, Result{Scenario: "catchup", Members: 2, Messages: n, Delivered: got,
			Seconds: el.Seconds(), MsgsPerSec: float64(n) / el.Seconds(), FirstMillis: float64(first.Sub(t0).Microseconds()) / 1000,
			CPUPerMsg: float64(cpu.Microseconds()) / float64(n), PeakRSSMiB: peakRSS()})
	}
	return out, nil
}

// progress prints how far a scenario is, every half second, until stopped.
func (c *cluster) progress(o Options, what string, total int) (stop func()) {
	if o.Progress == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				fmt.Fprintf(o.Progress, "\r%-40s done%20s\n", what, "")
				return
			case <-tick.C:
				least := -1
				for _, m := range c.members {
					if m.n == nil {
						continue
					}
					if g := m.received(); least < 0 || g < least {
						least = g
					}
				}
				fmt.Fprintf(o.Progress, "\r%-40s %d/%d", what, max(least, 0), total)
			}
		}
	}()
	return func() { cancel(); <-done }
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets the kernel's peak-RSS mark (Linux ≥ 4.0), so each
// scenario reports its own peak.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS reads VmHWM, the process's peak resident set, in MiB.
func peakRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

// textPayload is a text message as the messenger encodes it (§12.1): what
// real clients send, and what the receivers' messenger projects.
func textPayload(text string) []byte {
	b, err := proto.Marshal(&payloadpb.Payload{Version: 1, Kind: &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: text}}})
	if err != nil {
		panic("bench: encode a text payload: " + err.Error())
	}
	return b
}
