package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berty-go/berty/internal/device"
)

// serveMetrics serves Prometheus metrics of the device on their own
// listener, behind the API's bearer token, until stop. The address must be
// loopback unless allowRemote.
func serveMetrics(addr string, allowRemote bool, d *device.Device, token string, log *slog.Logger) (stop func(), bound string, err error) {
	if !allowRemote {
		if err := checkLoopback(addr); err != nil {
			return nil, "", fmt.Errorf("metrics: %w", err)
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("metrics: %w", err)
	}
	hs := &http.Server{Handler: MetricsHandler(d, token), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: MaxHeaderBytes}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics stopped; the API keeps running", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		<-done
	}, l.Addr().String(), nil
}

// MetricsHandler serves the device's Prometheus metrics at /metrics (a
// private registry: nothing global) to requests with the bearer token.
// What a scrape reveals — peers, conversations, pending requests, traffic —
// is the account's business: without the token it gets 401.
func MetricsHandler(d *device.Device, token string) http.Handler {
	reg := prometheus.NewRegistry()
	stat := func(name, help string, f func() int64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "berty", Name: name, Help: help},
			func() float64 { return float64(f()) }))
	}
	stat("gossip_received_total", "Gossip messages received.", func() int64 { return d.Host.Stats().GossipIn })
	stat("gossip_refused_total", "Gossip messages refused by validation.", func() int64 { return d.Host.Stats().GossipRefused })
	stat("sync_served_total", "Sync requests served.", func() int64 { return d.Host.Stats().SyncServed })
	stat("sync_fetched_total", "Entries fetched by sync.", func() int64 { return d.Host.Stats().SyncFetched })
	stat("sync_errors_total", "Failed or refused sync streams.", func() int64 { return d.Host.Stats().SyncErrors })
	stat("rendezvous_refused_total", "Refused exchanges at rendezvous points (bad handshakes, floods).", func() int64 { return d.Host.Stats().PointRefused })
	stat("sync_cut_total", "Syncs served to a removed or revoked device, up to the event that cut it.", func() int64 { return d.Host.Stats().SyncCut })
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "berty", Name: "peers", Help: "Connected peers."},
		func() float64 { return float64(len(d.Host.Peers())) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "berty", Name: "conversations", Help: "Conversations of the account."},
		func() float64 { return float64(len(d.Node.Topics())) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "berty", Name: "contact_requests_pending", Help: "Outgoing contact requests not yet delivered."},
		func() float64 { return float64(len(d.Requests())) }))
	reg.MustRegister(collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return requireToken(token, mux)
}
