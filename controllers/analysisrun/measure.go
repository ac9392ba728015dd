package analysisrun

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluice-dev/sluice/analysis"
	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// resolve returns a copy of run whose metrics have their {{args.NAME}} substituted, after
// checking them: a missing argument, an unreadable Secret, an unsupported provider or an invalid
// metric is an error that ends the run.
func (r *AnalysisRunReconciler) resolve(ctx context.Context, run *v1alpha1.AnalysisRun) (*v1alpha1.AnalysisRun, error) {
	self, err := runtime.DefaultUnstructuredConverter.ToUnstructured(run)
	if err != nil {
		return nil, fmt.Errorf("read analysis run as an object: %w", err)
	}
	values, err := analysis.ResolveArgs(ctx, run.Spec.Args, r.readSecret(run.Namespace), self)
	if err != nil {
		return nil, err
	}
	metrics, err := analysis.SubstituteMetrics(run.Spec.Metrics, values)
	if err != nil {
		return nil, err
	}
	work := run.DeepCopy()
	work.Spec.Metrics = metrics
	supported := func(t string) bool { _, ok := r.Providers[t]; return ok }
	if err := analysis.ValidateRunSpec(work.Spec, supported); err != nil {
		return nil, err
	}
	return work, nil
}

func (r *AnalysisRunReconciler) readSecret(namespace string) analysis.SecretLookup {
	reader := r.Secrets
	if reader == nil {
		reader = r.Client
	}
	return func(ctx context.Context, name, key string) (string, error) {
		var s corev1.Secret
		if err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
			return "", err
		}
		v, ok := s.Data[key]
		if !ok {
			return "", fmt.Errorf("secret %s has no key %q", name, key)
		}
		return string(v), nil
	}
}

// measure takes (or resumes) the measurements of the due metrics, one goroutine per metric, and
// records them in work's status.
func (r *AnalysisRunReconciler) measure(ctx context.Context, work *v1alpha1.AnalysisRun, due []string) {
	if len(due) == 0 {
		return
	}
	log := logf.FromContext(ctx)
	taken := make([]v1alpha1.Measurement, len(due))
	var wg sync.WaitGroup
	for i, name := range due {
		metric, result := metricAndResult(work, name)
		wg.Go(func() { taken[i] = r.takeMeasurement(ctx, work, metric, result) })
	}
	wg.Wait()
	for i, name := range due {
		metric, _ := metricAndResult(work, name)
		m := taken[i]
		log.V(1).Info("Measured metric", "metric", name, "phase", m.Phase, "value", m.Value, "message", m.Message)
		r.record(work, name, m)
		r.collectGarbage(ctx, work, metric)
	}
}

// takeMeasurement calls the metric's provider; a panic becomes an Error measurement.
func (r *AnalysisRunReconciler) takeMeasurement(ctx context.Context, run *v1alpha1.AnalysisRun, metric v1alpha1.Metric, result v1alpha1.MetricResult) (m v1alpha1.Measurement) {
	started := time.Now()
	defer func() {
		if p := recover(); p != nil {
			m = analysis.NewErrorMeasurement(started, "", fmt.Errorf("provider panicked: %v", p))
		}
	}()
	provider, err := r.provider(metric)
	if err != nil {
		return analysis.NewErrorMeasurement(started, "", err)
	}
	if last := lastMeasurement(result); last != nil && !last.Phase.Completed() {
		resumer, ok := provider.(analysis.Resumer)
		if !ok {
			return analysis.NewErrorMeasurement(started, "", fmt.Errorf("measurement is still running but its provider cannot resume it"))
		}
		return resumer.Resume(ctx, run, metric, *last)
	}
	return provider.Measure(ctx, run, metric)
}

// terminate ends every Running measurement: through the provider when it can (a Job is
// deleted), else as Successful with the message "metric terminated".
func (r *AnalysisRunReconciler) terminate(ctx context.Context, work *v1alpha1.AnalysisRun) {
	for _, metric := range work.Spec.Metrics {
		_, result := metricAndResult(work, metric.Name)
		last := lastMeasurement(result)
		if last == nil || last.Phase.Completed() {
			continue
		}
		m := *last
		provider, _ := r.provider(metric)
		if t, ok := provider.(analysis.Terminator); ok {
			m = t.Terminate(ctx, work, metric, m)
		} else {
			m.Phase, m.Message, m.ResumeAt = v1alpha1.AnalysisPhaseSuccessful, "metric terminated", nil
			m.FinishedAt = timePtr(time.Now())
		}
		logf.FromContext(ctx).Info("Terminated measurement", "metric", metric.Name, "phase", m.Phase)
		r.record(work, metric.Name, m)
	}
}

// collectGarbage lets the metric's provider delete what it left beyond the retention limit.
func (r *AnalysisRunReconciler) collectGarbage(ctx context.Context, work *v1alpha1.AnalysisRun, metric v1alpha1.Metric) {
	provider, _ := r.provider(metric)
	gc, ok := provider.(analysis.GarbageCollector)
	if !ok {
		return
	}
	keep := v1alpha1.MeasurementRetentionLimit(work.Spec.MeasurementRetention, metric.Name)
	if err := gc.GarbageCollect(ctx, work, metric, int(keep)); err != nil {
		logf.FromContext(ctx).Error(err, "Collect garbage of metric", "metric", metric.Name)
	}
}

func (r *AnalysisRunReconciler) provider(metric v1alpha1.Metric) (analysis.MetricProvider, error) {
	typ, err := analysis.ProviderType(metric.Provider)
	if err != nil {
		return nil, err
	}
	p, ok := r.Providers[typ]
	if !ok {
		return nil, fmt.Errorf("provider %s is not supported", typ)
	}
	return p, nil
}

// record adds m to the metric's result in work's status, keeping measurementRetention.
func (r *AnalysisRunReconciler) record(work *v1alpha1.AnalysisRun, name string, m v1alpha1.Measurement) {
	keep := v1alpha1.MeasurementRetentionLimit(work.Spec.MeasurementRetention, name)
	for i := range work.Status.MetricResults {
		if work.Status.MetricResults[i].Name == name {
			work.Status.MetricResults[i] = analysis.RecordMeasurement(work.Status.MetricResults[i], m, keep)
			return
		}
	}
	result := v1alpha1.MetricResult{Name: name, Phase: v1alpha1.AnalysisPhaseRunning}
	work.Status.MetricResults = append(work.Status.MetricResults, analysis.RecordMeasurement(result, m, keep))
}

func metricAndResult(run *v1alpha1.AnalysisRun, name string) (v1alpha1.Metric, v1alpha1.MetricResult) {
	var metric v1alpha1.Metric
	for _, m := range run.Spec.Metrics {
		if m.Name == name {
			metric = m
		}
	}
	for _, res := range run.Status.MetricResults {
		if res.Name == name {
			return metric, res
		}
	}
	return metric, v1alpha1.MetricResult{Name: name}
}

func lastMeasurement(result v1alpha1.MetricResult) *v1alpha1.Measurement {
	if n := len(result.Measurements); n > 0 {
		return &result.Measurements[n-1]
	}
	return nil
}
