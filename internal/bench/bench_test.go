package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
)

// TestBenchJSON runs every scenario, small, on real loopback TCP and on the
// in-process network, and checks what a script reading --json relies on:
// one object per line per scenario, with every message delivered.
func TestBenchJSON(t *testing.T) {
	for _, tc := range []struct{ transport, store string }{{"tcp", "sqlite"}, {"memnet", "mem"}} {
		t.Run(tc.transport, func(t *testing.T) {
			var out bytes.Buffer
			rs, err := Run(Options{Members: []int{2, 3}, Messages: 120, Transport: tc.transport, Store: tc.store,
				JSON: true, Out: &out, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"latency", "throughput", "throughput", "catchup"}
			s := bufio.NewScanner(&out)
			i := 0
			for ; s.Scan(); i++ {
				var r map[string]any
				if err := json.Unmarshal(s.Bytes(), &r); err != nil {
					t.Fatalf("line %d is not JSON: %v: %s", i+1, err, s.Text())
				}
				for _, k := range []string{"scenario", "members", "messages", "delivered", "seconds", "msgs_per_sec",
					"latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "cpu_us_per_msg", "peak_rss_mib", "transport"} {
					if _, ok := r[k]; !ok {
						t.Errorf("line %d lacks %q", i+1, k)
					}
				}
				if i < len(want) && r["scenario"] != want[i] {
					t.Errorf("line %d is scenario %v, want %s", i+1, r["scenario"], want[i])
				}
			}
			if i != len(want) || len(rs) != len(want) {
				t.Fatalf("%d JSON lines, want %d", i, len(want))
			}
			for _, r := range rs {
				if r.Delivered != r.Messages {
					t.Errorf("%s with %d members: %d of %d delivered", r.Scenario, r.Members, r.Delivered, r.Messages)
				}
			}
			if rs[0].LatencyP50 <= 0 || rs[0].LatencyP99 < rs[0].LatencyP50 {
				t.Errorf("latency quantiles p50 %v p99 %v", rs[0].LatencyP50, rs[0].LatencyP99)
			}
		})
	}
}

func TestBenchRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{{Transport: "carrier-pigeon"}, {Store: "tape"}, {Transport: "tcp", Store: "mem"},
		{Scenarios: []string{"nap"}}, {Scenarios: []string{"throughput"}, Members: []int{1}}} {
		var out bytes.Buffer
		o.Out, o.Dir = &out, t.TempDir()
		if _, err := Run(o); err == nil {
			t.Errorf("Run(%+v) succeeded", o)
		}
	}
}
