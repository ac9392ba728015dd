package e2e

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/sluice-dev/sluice/test/cluster"
)

// exporter serves one gauge on a loopback port; tests change the gauge and read it back
// through Prometheus.
type exporter struct {
	Addr  string
	Gauge prometheus.Gauge
}

func startExporter(t *testing.T, name string) *exporter {
	t.Helper()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "a value the test sets"})
	reg.MustRegister(g)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &exporter{Addr: l.Addr().String(), Gauge: g}
}

func startPrometheus(t *testing.T, targets ...string) *cluster.Prometheus {
	t.Helper()
	p, err := cluster.StartPrometheus(context.Background(), t.TempDir(), cluster.ScrapeConfig("e2e", time.Second, targets...))
	if err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

func TestSmokePrometheusScrapesAndAnswers(t *testing.T) {
	exp := startExporter(t, "sluice_smoke_value")
	exp.Gauge.Set(0.25)
	prom := startPrometheus(t, exp.Addr)

	c, err := api.NewClient(api.Config{Address: prom.URL})
	if err != nil {
		t.Fatalf("create prometheus client: %v", err)
	}
	q := promv1.NewAPI(c)
	readValue := func() (float64, bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, _, _, err := q.Query(ctx, "sluice_smoke_value", time.Now())
		if err != nil {
			return 0, false, err
		}
		vec, ok := v.(model.Vector)
		if !ok || len(vec) != 1 {
			return 0, false, nil
		}
		return float64(vec[0].Value), true, nil
	}
	eventually(t, 30*time.Second, "prometheus to report 0.25", func() (bool, error) {
		v, ok, err := readValue()
		return ok && v == 0.25, err
	})
	// A change at the exporter reaches queries within a few scrapes.
	exp.Gauge.Set(0.75)
	eventually(t, 30*time.Second, "prometheus to report 0.75", func() (bool, error) {
		v, ok, err := readValue()
		return ok && v == 0.75, err
	})
}
