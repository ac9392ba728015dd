package analysisrun

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluice-dev/sluice/analysis"
	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// resolve returns a copy of run whose metrics have their {{args.NAME}} substituted, after
// checking them, and the redactor of the Secret values it read (returned even with an error, so
// that the error's own message can be redacted). A missing argument or Secret key, a Secret
// that stays missing for SecretMissingGrace, an unsupported provider or an invalid metric is an
// error that ends the run; a transient failure to read a Secret is a *transientError.
func (r *AnalysisRunReconciler) resolve(ctx context.Context, run *v1alpha1.AnalysisRun) (*v1alpha1.AnalysisRun, *analysis.Redactor, error) {
	self, err := runtime.DefaultUnstructuredConverter.ToUnstructured(run)
	if err != nil {
		return nil, nil, fmt.Errorf("read analysis run as an object: %w", err)
	}
	var secrets []string
	lookup := r.readSecret(run.Namespace)
	collect := func(ctx context.Context, name, key string) (string, error) {
		v, err := lookup(ctx, name, key)
		if err == nil {
			secrets = append(secrets, v)
		}
		return v, err
	}
	values, err := analysis.ResolveArgs(ctx, run.Spec.Args, collect, self)
	if err != nil {
		return nil, analysis.NewRedactor(secrets, nil), r.classifySecretError(run, err)
	}
	r.memory().secretFound(run.UID)
	metrics, err := analysis.SubstituteMetrics(run.Spec.Metrics, values)
	if err != nil {
		return nil, analysis.NewRedactor(secrets, nil), err
	}
	red := analysis.NewRedactor(secrets, endpoints(run.Spec.Metrics, metrics))
	work := run.DeepCopy()
	work.Spec.Metrics = metrics
	supported := func(t string) bool { _, ok := r.Providers[t]; return ok }
	if err := analysis.ValidateRunSpec(work.Spec, supported); err != nil {
		return nil, red, err
	}
	return work, red, nil
}

// endpoints maps each metric's substituted URL or address to the same field before
// substitution, so that messages name the endpoint as the template wrote it.
func endpoints(templates, substituted []v1alpha1.Metric) map[string]string {
	out := map[string]string{}
	for i := range substituted {
		if i >= len(templates) {
			break
		}
		t, s := templates[i].Provider, substituted[i].Provider
		if t.Web != nil && s.Web != nil {
			out[s.Web.URL] = t.Web.URL
		}
		if t.Prometheus != nil && s.Prometheus != nil {
			out[s.Prometheus.Address] = t.Prometheus.Address
		}
	}
	return out
}

// DefaultSecretMissingGrace is how long a Secret that arguments refer to may be missing before
// the run ends in Error: it may be created just after the run.
const DefaultSecretMissingGrace = 30 * time.Second

// transientError is a failure that is retried with backoff instead of ending the run.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// classifySecretError decides whether a failure to resolve the arguments ends the run. A missing
// key, or a Secret missing for SecretMissingGrace, does; any other API error (a timeout, an
// unavailable server, throttling) is transient.
func (r *AnalysisRunReconciler) classifySecretError(run *v1alpha1.AnalysisRun, err error) error {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return err // not an API error: a missing key, an argument without a value
	}
	if apierrors.IsNotFound(err) {
		grace := r.SecretMissingGrace
		if grace <= 0 {
			grace = DefaultSecretMissingGrace
		}
		since := r.memory().secretMissing(run.UID, r.now())
		if r.now().Sub(since) >= grace {
			return fmt.Errorf("%w (missing for %s)", err, grace)
		}
	}
	return &transientError{err: err}
}

func (r *AnalysisRunReconciler) readSecret(namespace string) analysis.SecretLookup {
	reader := r.Secrets
	if reader == nil {
		reader = r.Client
	}
	return func(ctx context.Context, name, key string) (string, error) {
		// client-go logs response bodies at high verbosity through the context's logger: a
		// Secret's body must not reach the logs, and its bytes cannot be redacted there.
		ctx = logf.IntoContext(ctx, logr.Discard())
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
// records them in work's status, redacted by red and bounded (analysis.BoundMeasurement).
func (r *AnalysisRunReconciler) measure(ctx context.Context, work *v1alpha1.AnalysisRun, due []string, red *analysis.Redactor) {
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
		m := analysis.BoundMeasurement(red.Measurement(taken[i]))
		log.V(1).Info("Measured metric", "metric", name, "phase", m.Phase, "value", m.Value, "message", m.Message)
		r.record(work, name, m)
		r.collectGarbage(ctx, work, metric)
	}
}

// takeMeasurement calls the metric's provider; a panic becomes an Error measurement. A new
// measurement is taken once per index: when one was already taken for this index (its status
// write was refused, or the cache has not caught up with it), it is returned again instead of
// calling the provider a second time.
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
	key := takenKey{run: run.UID, metric: metric.Name, index: measurementIndex(result)}
	if prev, ok := r.memory().takenFor(key); ok {
		logf.FromContext(ctx).V(1).Info("Measurement already taken; reusing it", "metric", metric.Name, "index", key.index)
		return prev
	}
	m = provider.Measure(ctx, run, metric)
	r.memory().remember(key, m, r.now())
	return m
}

// terminate ends every Running measurement: through the provider when it can (a Job is
// deleted), else as Successful with the message "metric terminated".
func (r *AnalysisRunReconciler) terminate(ctx context.Context, work *v1alpha1.AnalysisRun, red *analysis.Redactor) {
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
		m = analysis.BoundMeasurement(red.Measurement(m))
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
