package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rolloutsv1alpha1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/test/cluster"
)

const errorRatioMetric = "sluice_e2e_error_ratio"

// startErrorRatio serves the error ratio gauge at ratio, starts Prometheus scraping it every
// second, and waits until Prometheus answers with ratio.
func startErrorRatio(t *testing.T, ratio float64) (*exporter, *cluster.Prometheus) {
	t.Helper()
	exp := startExporter(t, errorRatioMetric)
	exp.Gauge.Set(ratio)
	prom := startPrometheus(t, exp.Addr)
	c, err := api.NewClient(api.Config{Address: prom.URL})
	if err != nil {
		t.Fatalf("create prometheus client: %v", err)
	}
	eventually(t, 30*time.Second, "prometheus to scrape the error ratio", func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, _, _, err := promv1.NewAPI(c).Query(ctx, errorRatioMetric, time.Now())
		vec, ok := v.(model.Vector)
		return err == nil && ok && len(vec) == 1 && float64(vec[0].Value) == ratio, err
	})
	return exp, prom
}

// errorRatioSpec is a run with one metric on the error ratio: `result[0] < 0.05` every second.
// The query's metric name comes from a literal argument and the address from a Secret.
func errorRatioSpec(t *testing.T, ns, address string, count int32) rolloutsv1alpha1.AnalysisRunSpec {
	t.Helper()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "prometheus"},
		StringData: map[string]string{"address": address}}
	if err := env.client.Create(context.Background(), secret); err != nil {
		t.Fatalf("create secret: %v", err)
	}
	return rolloutsv1alpha1.AnalysisRunSpec{
		Args: []rolloutsv1alpha1.Argument{
			{Name: "metric", Value: analysisPtr(errorRatioMetric)},
			{Name: "address", ValueFrom: &rolloutsv1alpha1.ValueFrom{SecretKeyRef: &rolloutsv1alpha1.SecretKeyRef{Name: "prometheus", Key: "address"}}},
		},
		Metrics: []rolloutsv1alpha1.Metric{{
			Name:             "error-ratio",
			Interval:         "1s",
			Count:            analysisIntOrString(count),
			SuccessCondition: "result[0] < 0.05",
			Provider: rolloutsv1alpha1.MetricProvider{Prometheus: &rolloutsv1alpha1.PrometheusMetric{
				Address: "{{args.address}}",
				Query:   `{{ args.metric }}{job="e2e"}`,
				Timeout: analysisPtr(int64(5)),
			}},
		}},
	}
}

// (a) A run whose error ratio stays low succeeds, with every measurement recorded.
func TestAnalysisPrometheusSucceeds(t *testing.T) {
	_, prom := startErrorRatio(t, 0.01)
	ns := newNamespace(t)
	startAnalysisController(t)
	name := createAnalysisRun(t, ns, "ok", errorRatioSpec(t, ns, prom.URL, 3))

	run := waitAnalysisPhase(t, ns, name, 60*time.Second, rolloutsv1alpha1.AnalysisPhaseSuccessful)
	checkAnalysisFinished(t, run)
	r := analysisMetricResult(run, "error-ratio")
	if r.Phase != rolloutsv1alpha1.AnalysisPhaseSuccessful || r.Count != 3 || r.Successful != 3 || len(r.Measurements) != 3 {
		t.Fatalf("metric result = %+v, want 3 successful measurements", r)
	}
	for _, m := range r.Measurements {
		if m.Value != "[0.01]" || m.Phase != rolloutsv1alpha1.AnalysisPhaseSuccessful {
			t.Errorf("measurement = %s %q, want Successful [0.01]", m.Phase, m.Value)
		}
	}
	if s := run.Status.RunSummary; s.Count != 1 || s.Successful != 1 {
		t.Errorf("runSummary = %+v", s)
	}
	if run.Status.DryRunSummary != nil {
		t.Errorf("dryRunSummary = %+v, want none without dry-run metrics", run.Status.DryRunSummary)
	}
	// The measurements are a second apart: scheduled at their due time, not polled.
	first, last := r.Measurements[0].StartedAt.Time, r.Measurements[2].StartedAt.Time
	if gap := last.Sub(first); gap < time.Second || gap > 5*time.Second {
		t.Errorf("3 measurements at a 1s interval spanned %s", gap)
	}
}

// (b) Raising the error ratio mid-run fails the run.
func TestAnalysisPrometheusFailsWhenRatioRises(t *testing.T) {
	exp, prom := startErrorRatio(t, 0.01)
	ns := newNamespace(t)
	startAnalysisController(t)
	name := createAnalysisRun(t, ns, "rises", errorRatioSpec(t, ns, prom.URL, 60))

	waitAnalysisRun(t, ns, name, 30*time.Second, "two successful measurements", func(r *rolloutsv1alpha1.AnalysisRun) bool {
		return analysisMetricResult(r, "error-ratio").Successful >= 2
	})
	raised := time.Now()
	exp.Gauge.Set(0.5)
	run := waitAnalysisPhase(t, ns, name, 30*time.Second, rolloutsv1alpha1.AnalysisPhaseFailed)
	t.Logf("run Failed %s after the ratio rose", time.Since(raised).Round(10*time.Millisecond))
	checkAnalysisFinished(t, run)
	if want := `metric "error-ratio" assessed Failed due to failed (1) > failureLimit (0)`; run.Status.Message != want {
		t.Errorf("message = %q, want %q", run.Status.Message, want)
	}
	r := analysisMetricResult(run, "error-ratio")
	last := r.Measurements[len(r.Measurements)-1]
	if last.Phase != rolloutsv1alpha1.AnalysisPhaseFailed || last.Value != "[0.5]" || r.Failed != 1 {
		t.Errorf("last measurement = %s %q (failed %d), want Failed [0.5]", last.Phase, last.Value, r.Failed)
	}
	if s := run.Status.RunSummary; s.Count != 1 || s.Failed != 1 {
		t.Errorf("runSummary = %+v", s)
	}
}

// (c) Prometheus going away mid-run drives the run to Error after consecutiveErrorLimit.
func TestAnalysisPrometheusStoppedErrors(t *testing.T) {
	_, prom := startErrorRatio(t, 0.01)
	ns := newNamespace(t)
	startAnalysisController(t)
	spec := errorRatioSpec(t, ns, prom.URL, 60)
	spec.Metrics[0].ConsecutiveErrorLimit = analysisIntOrString(2)
	name := createAnalysisRun(t, ns, "unreachable", spec)

	waitAnalysisRun(t, ns, name, 30*time.Second, "a successful measurement", func(r *rolloutsv1alpha1.AnalysisRun) bool {
		return analysisMetricResult(r, "error-ratio").Successful >= 1
	})
	prom.Stop()
	run := waitAnalysisPhase(t, ns, name, 60*time.Second, rolloutsv1alpha1.AnalysisPhaseError)
	checkAnalysisFinished(t, run)
	msg := run.Status.Message
	if !strings.Contains(msg, `metric "error-ratio" assessed Error due to consecutiveErrors (3) > consecutiveErrorLimit (2)`) ||
		!strings.Contains(msg, "connection refused") {
		t.Errorf("message = %q, want the error limit and the refused connection", msg)
	}
	// The address is a Secret value: the status names the address as the template wrote it.
	if raw, _ := json.Marshal(run.Status); strings.Contains(string(raw), prom.URL) || !strings.Contains(msg, "{{args.address}}") {
		t.Errorf("status holds the Secret's address %s or lacks {{args.address}}: %s", prom.URL, raw)
	}
	r := analysisMetricResult(run, "error-ratio")
	if r.ConsecutiveError != 3 || r.Error != 3 {
		t.Errorf("metric result errors = %d (consecutive %d), want 3", r.Error, r.ConsecutiveError)
	}
	for _, m := range r.Measurements[len(r.Measurements)-3:] {
		if m.Phase != rolloutsv1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "connection refused") {
			t.Errorf("measurement = %s %q, want Error naming the refused connection", m.Phase, m.Message)
		}
	}
}

// A run that cannot be measured ends in Error with a message that says why.
func TestAnalysisInvalidRunsError(t *testing.T) {
	ns := newNamespace(t)
	startAnalysisController(t)
	prom := func(query string) rolloutsv1alpha1.MetricProvider {
		return rolloutsv1alpha1.MetricProvider{Prometheus: &rolloutsv1alpha1.PrometheusMetric{Address: "http://127.0.0.1:1", Query: query}}
	}
	tests := []struct {
		name string
		spec rolloutsv1alpha1.AnalysisRunSpec
		want string
	}{
		{"missing-arg", rolloutsv1alpha1.AnalysisRunSpec{Metrics: []rolloutsv1alpha1.Metric{{Name: "m", Provider: prom("rate({{args.service}}[1m])")}}},
			`metric "m": no value for args.service`},
		{"arg-without-value", rolloutsv1alpha1.AnalysisRunSpec{Args: []rolloutsv1alpha1.Argument{{Name: "service"}},
			Metrics: []rolloutsv1alpha1.Metric{{Name: "m", Provider: prom("rate({{args.service}}[1m])")}}},
			`resolve argument "service": argument has no value`},
		{"missing-secret", rolloutsv1alpha1.AnalysisRunSpec{
			Args:    []rolloutsv1alpha1.Argument{{Name: "token", ValueFrom: &rolloutsv1alpha1.ValueFrom{SecretKeyRef: &rolloutsv1alpha1.SecretKeyRef{Name: "nope", Key: "k"}}}},
			Metrics: []rolloutsv1alpha1.Metric{{Name: "m", Provider: prom("up")}}},
			`resolve argument "token": read key "k" of secret nope: secrets "nope" not found (missing for 30s)`},
		{"unsupported-provider", rolloutsv1alpha1.AnalysisRunSpec{Metrics: []rolloutsv1alpha1.Metric{{Name: "dd",
			Provider: rolloutsv1alpha1.MetricProvider{Datadog: analysisRawJSON(`{"query":"avg:errors"}`)}}}},
			`metric "dd": provider datadog is not supported`},
	}
	for _, tt := range tests {
		createAnalysisRun(t, ns, tt.name, tt.spec)
	}
	for _, tt := range tests {
		// A missing Secret ends the run only once it stayed missing for the controller's grace
		// (30 s), in case it is created just after the run.
		run := waitAnalysisPhase(t, ns, tt.name, 75*time.Second, rolloutsv1alpha1.AnalysisPhaseError)
		if !strings.Contains(run.Status.Message, tt.want) {
			t.Errorf("%s: message = %q, want %q", tt.name, run.Status.Message, tt.want)
		}
		checkAnalysisFinished(t, run)
	}
}
