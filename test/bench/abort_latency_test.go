package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/test/cluster"
)

const errorRatioMetric = "sluice_bench_error_ratio"

// BenchmarkAbortLatency (bench/abort-latency): a 5-replica canary [30%, analysis] routed by an
// HTTPRoute (a fake gateway accepts every generation), whose analysis measures an error ratio on a
// real Prometheus (scraping every 1s) every 2s and fails on the first value >= 0.05. Ten times:
// update, wait for the run to measure at 70/30, wait i/10 of the interval (so that the failures
// arrive at every point of the measurement cycle, not always just after a measurement), raise the
// ratio to 0.5 (T) and follow the run, the Rollout and the route with watches. It reports
// T -> Prometheus answers 0.5, T -> run Failed, T -> Rollout aborted, T -> canary weight 0 on the
// route, the controller's own share: run Failed (as the watch sees it) -> aborted and -> route at
// 100/0, and the gaps between the run's measurements as the watch saw them (the 2s interval).
func BenchmarkAbortLatency(b *testing.B) {
	const repeats = 10
	const interval = 2 * time.Second
	ctx := context.Background()
	gauge, promURL := startErrorRatio(b, 0.01)
	ctrl := startController(b)
	ns := newBenchNamespace(b)
	createServices(b, ns)
	createHTTPRoute(b, ns)
	startFakeGateway(b, ns, "web")
	tmpl := &v1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "error-ratio"},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{
			Name:             "error-ratio",
			Interval:         v1alpha1.DurationString(interval.String()),
			Count:            ptr.To(intstr.FromInt32(30)),
			SuccessCondition: "result[0] < 0.05",
			FailureLimit:     ptr.To(intstr.FromInt32(0)),
			Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
				Address: promURL,
				Query:   errorRatioMetric + `{job="bench"}`,
				Timeout: ptr.To[int64](5),
			}},
		}}},
	}
	if err := env.client.Create(ctx, tmpl); err != nil {
		b.Fatal(err)
	}
	ro := routedRollout(ns, httpRouteCase().routing, []v1alpha1.CanaryStep{
		{SetWeight: ptr.To[int32](30)},
		{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "error-ratio"}}}},
	})
	if err := env.client.Create(ctx, ro); err != nil {
		b.Fatal(err)
	}
	waitHealthy(b, ns, "web")

	var toProm, toFailed, toAborted, toRoute, failedToAborted, failedToRoute, gaps []float64
	startReq, startCPU := ctrl.requests(b), ctrl.cpuSeconds(b)
	prevRun := ""
	for i := range repeats {
		offset := time.Duration(i) * interval / repeats
		t := timeAbort(b, ns, gauge, promURL, fmt.Sprintf("app:%d", i+2), prevRun, offset)
		prevRun = t.run
		toProm = append(toProm, t.prom.Seconds())
		toFailed = append(toFailed, t.failed.Seconds())
		toAborted = append(toAborted, t.aborted.Seconds())
		toRoute = append(toRoute, t.route.Seconds())
		failedToAborted = append(failedToAborted, (t.aborted - t.failed).Seconds())
		failedToRoute = append(failedToRoute, (t.route - t.failed).Seconds())
		for _, g := range t.gaps {
			gaps = append(gaps, g.Seconds())
		}
	}
	report(b, "bench/abort-latency", map[string]stats{
		"T -> Prometheus answers 0.5 (s)":           summarize(toProm),
		"T -> AnalysisRun Failed (s)":               summarize(toFailed),
		"T -> Rollout aborted (s)":                  summarize(toAborted),
		"T -> route canary weight 0 (s)":            summarize(toRoute),
		"run Failed seen -> Rollout aborted (s)":    summarize(failedToAborted),
		"run Failed seen -> route 100/0 stable (s)": summarize(failedToRoute),
		"gap between measurements seen (s)":         summarize(gaps),
	}, map[string]float64{
		"API requests per update (incl. abort)": (ctrl.requests(b) - startReq) / repeats,
		"controller CPU seconds over updates":   ctrl.cpuSeconds(b) - startCPU,
	})
}

// abortTimes are measured from the moment the error ratio rose; gaps are the times between the
// step run's measurements as the watch saw them arrive.
type abortTimes struct {
	run                          string
	prom, failed, aborted, route time.Duration
	gaps                         []time.Duration
}

// timeAbort updates the Rollout to image, waits until its step AnalysisRun (not prevRun) has
// measured with the route at 70/30, waits offset more (so that over the repeats the failure
// arrives at every point of the measurement interval), raises the error ratio and follows the
// run, the Rollout and the route until the canary is off the route; then lowers the ratio again
// and waits until Prometheus answers with it and the Rollout is Degraded.
func timeAbort(b *testing.B, ns string, gauge prometheus.Gauge, promURL, image, prevRun string, offset time.Duration) abortTimes {
	b.Helper()
	f := followObjects(b, ns, httpRouteCase().list, "web")
	defer f.stop()
	setBenchImage(b, ns, "web", image)
	var res abortTimes
	measured := map[int]time.Time{} // number of measurements -> when the watch first saw it
	track := func(at time.Time) *v1alpha1.AnalysisRun {
		run := f.runs[res.run]
		if run == nil || len(run.Status.MetricResults) == 0 {
			return run
		}
		if n := len(run.Status.MetricResults[0].Measurements); n > 0 {
			if _, ok := measured[n]; !ok {
				measured[n] = at
			}
		}
		return run
	}
	f.until(b, time.Minute, "the step analysis measuring at 70/30", func(at time.Time) bool {
		s := f.rollout.Status.Canary.CurrentStepAnalysisRunStatus
		if f.rollout.Spec.Template.Spec.Containers[0].Image != image || s == nil || s.Name == prevRun {
			return false
		}
		res.run = s.Name
		run := track(at)
		return run != nil && run.Status.Phase == v1alpha1.AnalysisPhaseRunning && len(run.Status.MetricResults) > 0 &&
			run.Status.MetricResults[0].Successful >= 1 && f.route == [2]int32{70, 30}
	})
	time.Sleep(offset)

	raised := time.Now()
	gauge.Set(0.5)
	promSeen := make(chan time.Duration, 1)
	go func() {
		waitPromValue(b, promURL, 0.5)
		promSeen <- time.Since(raised)
	}()
	var failedAt, abortedAt, routeAt time.Time
	f.until(b, time.Minute, "the run Failed, the Rollout aborted and the canary off the route", func(at time.Time) bool {
		if run := track(at); failedAt.IsZero() && run != nil && run.Status.Phase == v1alpha1.AnalysisPhaseFailed {
			failedAt = at
		}
		if abortedAt.IsZero() && (f.rollout.Status.Abort || f.rollout.Status.Phase == v1alpha1.RolloutPhaseDegraded) {
			abortedAt = at
		}
		if routeAt.IsZero() && f.route == [2]int32{100, 0} {
			routeAt = at
		}
		return !failedAt.IsZero() && !abortedAt.IsZero() && !routeAt.IsZero()
	})
	res.prom = <-promSeen
	res.failed, res.aborted, res.route = failedAt.Sub(raised), abortedAt.Sub(raised), routeAt.Sub(raised)
	for n := 2; ; n++ {
		at, ok := measured[n]
		prev, okPrev := measured[n-1]
		if !ok || !okPrev {
			break
		}
		res.gaps = append(res.gaps, at.Sub(prev))
	}

	// A clean state for the next update: the ratio back down at Prometheus, the Rollout Degraded.
	gauge.Set(0.01)
	waitPromValue(b, promURL, 0.01)
	f.until(b, time.Minute, "the Rollout Degraded", func(time.Time) bool {
		return f.rollout.Status.Phase == v1alpha1.RolloutPhaseDegraded
	})
	return res
}

// startErrorRatio serves the error ratio gauge at ratio, starts Prometheus scraping it every
// second as job "bench", and waits until Prometheus answers with ratio.
func startErrorRatio(b *testing.B, ratio float64) (prometheus.Gauge, string) {
	b.Helper()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: errorRatioMetric, Help: "the error ratio the benchmark sets"})
	reg.MustRegister(g)
	g.Set(ratio)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { _ = srv.Close() })
	p, err := cluster.StartPrometheus(context.Background(), b.TempDir(), cluster.ScrapeConfig("bench", time.Second, l.Addr().String()))
	if err != nil {
		b.Fatalf("start prometheus: %v", err)
	}
	b.Cleanup(p.Stop)
	waitPromValue(b, p.URL, ratio)
	return g, p.URL
}

// waitPromValue polls Prometheus every 20ms until the error ratio query answers want.
func waitPromValue(b *testing.B, url string, want float64) {
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		b.Errorf("create prometheus client: %v", err)
		return
	}
	q := promv1.NewAPI(c)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, _, _, err := q.Query(ctx, errorRatioMetric+`{job="bench"}`, time.Now())
		cancel()
		if vec, ok := v.(model.Vector); err == nil && ok && len(vec) == 1 && float64(vec[0].Value) == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Errorf("prometheus did not answer %v within 30s", want)
}
