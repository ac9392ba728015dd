package demo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Requests per second each version serves, and the share of them that fail for a bad version.
const (
	requestRate   = 20.0
	badErrorRatio = 0.3
)

// BadSuffix marks a bad version: an image tag ending in it serves badErrorRatio of its requests
// with 500.
const BadSuffix = "-bad"

// Exporter stands for the payments pods' own metrics: for every ReplicaSet of payments it serves
// payments_http_requests_total{namespace, pod_template_hash, code}, growing at requestRate from
// the moment the ReplicaSet appears, a share of them code 500 when its image tag ends in
// BadSuffix. (The pods on kwok nodes run no containers; this is what Prometheus would scrape.)
type Exporter struct {
	client client.Client
	ln     net.Listener
	srv    *http.Server

	mu    sync.Mutex
	first map[string]time.Time // namespace/hash -> when it was first seen
}

// StartExporter serves the counters on a loopback port.
func StartExporter(ctx context.Context, c client.Client) (*Exporter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the exporter: %w", err)
	}
	e := &Exporter{client: c, ln: ln, first: map[string]time.Time{}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() { _ = e.srv.Serve(ln) }()
	return e, nil
}

// Addr is the exporter's host:port.
func (e *Exporter) Addr() string { return e.ln.Addr().String() }

// Stop closes the server.
func (e *Exporter) Stop() { _ = e.srv.Close() }

var requestsDesc = prometheus.NewDesc("payments_http_requests_total", "HTTP requests served by the payments pods of a version.",
	[]string{"namespace", "pod_template_hash", "code"}, nil)

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) { ch <- requestsDesc }

// Collect implements prometheus.Collector: one pair of counters per payments ReplicaSet.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	list := &appsv1.ReplicaSetList{}
	if err := e.client.List(ctx, list, client.MatchingLabels{"app": "payments"}); err != nil {
		return
	}
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rs := range list.Items {
		hash := rs.Labels["rollouts-pod-template-hash"]
		if hash == "" || len(rs.Spec.Template.Spec.Containers) == 0 {
			continue
		}
		key := rs.Namespace + "/" + hash
		since, ok := e.first[key]
		if !ok {
			since = now
			e.first[key] = now
		}
		total := requestRate * now.Sub(since).Seconds()
		failed := 0.0
		if strings.HasSuffix(rs.Spec.Template.Spec.Containers[0].Image, BadSuffix) {
			failed = total * badErrorRatio
		}
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, total-failed, rs.Namespace, hash, "200")
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, failed, rs.Namespace, hash, "500")
	}
}
