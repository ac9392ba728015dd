// Package analysisrun is the AnalysisRun controller: it takes each metric's measurements on
// their schedule through the analysis package's providers, and writes the run's status.
package analysisrun

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/sluice-dev/sluice/analysis"
	"github.com/sluice-dev/sluice/analysis/job"
	"github.com/sluice-dev/sluice/analysis/prometheus"
	"github.com/sluice-dev/sluice/analysis/web"
	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// The rights the analysis run controller uses (config/rbac is generated from these lines):
// runs are read from the cache, their status merge-patched, finished runs past their TTL deleted.
// +kubebuilder:rbac:groups=argoproj.io,resources=analysisruns,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=argoproj.io,resources=analysisruns/status,verbs=patch
// Jobs get a controller reference that blocks the run's deletion: update on analysisruns/finalizers.
// +kubebuilder:rbac:groups=argoproj.io,resources=analysisruns/finalizers,verbs=update
// +kubebuilder:rbac:groups=argoproj.io,resources=analysistemplates;clusteranalysistemplates,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// A Job's pods are listed uncached, to report image-pull failures.
// +kubebuilder:rbac:groups="",resources=pods,verbs=list
// Secrets named by secretKeyRef args are read one by one, uncached.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// conflictRetry is how soon a run whose status write met a newer version is reconciled again.
const conflictRetry = 20 * time.Millisecond

// ControllerName names the controller in logs and events.
const ControllerName = "analysisrun-controller"

// AnalysisRunReconciler measures AnalysisRuns' metrics and writes their status.
type AnalysisRunReconciler struct {
	client.Client
	// Secrets reads the Secrets that arguments refer to (an uncached reader, so that the
	// controller does not cache every Secret). Nil falls back to Client.
	Secrets client.Reader
	// Providers by provider type ("prometheus", "web", "job"); any other type is not supported.
	Providers analysis.Providers
	// Recorder emits an event when a run finishes; nil for none.
	Recorder recorder.EventRecorder
	// SecretMissingGrace is how long a Secret that arguments refer to may be missing before the
	// run ends in Error (0: DefaultSecretMissingGrace).
	SecretMissingGrace time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// mem is what is remembered between reconciles (memory); memOnce creates it.
	mem     *memory
	memOnce sync.Once
	// MaxConcurrentReconciles bounds the runs measured at once (default 10): a measurement
	// blocks its worker up to the metric's timeout.
	MaxConcurrentReconciles int
}

// NewReconciler returns a reconciler with the manager's clients and the default providers:
// prometheus, web and job.
func NewReconciler(mgr ctrl.Manager) *AnalysisRunReconciler {
	return &AnalysisRunReconciler{
		Client:    mgr.GetClient(),
		Secrets:   mgr.GetAPIReader(),
		Providers: DefaultProviders(mgr.GetClient(), mgr.GetAPIReader()),
		Recorder:  mgr.GetEventRecorder(ControllerName),
	}
}

// DefaultProviders returns the providers sluice supports. c manages Jobs; uncached lists pods.
func DefaultProviders(c client.Client, uncached client.Reader) analysis.Providers {
	return analysis.Providers{
		analysis.ProviderPrometheus: prometheus.New(),
		analysis.ProviderWeb:        web.New(),
		analysis.ProviderJob:        job.New(c, uncached),
	}
}

// SetupWithManager registers the controller; fields left unset get NewReconciler's values.
// It reconciles on a run's creation and spec changes, on changes of the Jobs it owns, and at
// each run's next due time (RequeueAfter), never by polling.
func (r *AnalysisRunReconciler) SetupWithManager(mgr ctrl.Manager) error {
	defaults := NewReconciler(mgr)
	if r.Client == nil {
		r.Client = defaults.Client
	}
	if r.Secrets == nil {
		r.Secrets = defaults.Secrets
	}
	if r.Providers == nil {
		r.Providers = defaults.Providers
	}
	if r.Recorder == nil {
		r.Recorder = defaults.Recorder
	}
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 10
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("analysisrun").
		For(&v1alpha1.AnalysisRun{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&batchv1.Job{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, RateLimiter: newRateLimiter()}).
		Complete(r)
}

// maxBackoff caps the retry delay of a failed reconcile, as Argo Rollouts does (controller-runtime's
// default grows to about 16 minutes, longer than most measurement intervals).
const maxBackoff = 10 * time.Second

// newRateLimiter is the queue's per-run retry backoff: 5 ms doubling up to maxBackoff.
func newRateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, maxBackoff)
}

func (r *AnalysisRunReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile takes the measurements that are due and records the run's status. The status is
// written in a defer, so every exit path records what happened. Everything the run's reconcile
// writes or says (status, events, logs, the returned error) goes through one redactor that
// replaces the Secret values it resolved.
func (r *AnalysisRunReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	var run v1alpha1.AnalysisRun
	if err := r.Get(ctx, req.NamespacedName, &run); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if run.DeletionTimestamp != nil {
		r.memory().forget(run.UID, nil, r.now())
		return ctrl.Result{}, nil
	}
	if run.Status.Phase.Completed() {
		r.memory().forget(run.UID, nil, r.now())
		return r.reconcileTTL(ctx, &run)
	}
	// red is filled in once the arguments are resolved; the logger reads it then.
	red := &analysis.Redactor{}
	log := redactLogger(logf.FromContext(ctx), red)
	ctx = logf.IntoContext(ctx, log)
	before := run.DeepCopy()
	defer func() {
		red.Status(&run.Status)
		retErr = red.Error(retErr)
		if equality.Semantic.DeepEqual(before.Status, run.Status) {
			return
		}
		// The optimistic lock refuses a status computed from a stale cache (a Job event can
		// arrive before our last status write): it is then computed again from fresh data,
		// reusing the measurements already taken (memory.taken).
		patch := client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
		if err := r.Status().Patch(ctx, &run, patch); apierrors.IsConflict(err) {
			log.V(1).Info("Analysis run changed while it was measured; reconciling again")
			res, retErr = ctrl.Result{RequeueAfter: conflictRetry}, nil
			return
		} else if err != nil {
			retErr = errors.Join(retErr, red.Error(fmt.Errorf("write status of analysis run %s: %w", req.NamespacedName, err)))
			return
		}
		if run.Status.Phase != before.Status.Phase {
			log.Info("Analysis run phase changed", "from", before.Status.Phase, "to", run.Status.Phase, "message", run.Status.Message)
			r.recordCompletion(&run)
		}
	}()
	return r.reconcileRun(ctx, &run, red)
}

// reconcileRun measures what is due, assesses the run and returns when to come back. It sets
// *red to the redactor of the run's resolved Secret values.
func (r *AnalysisRunReconciler) reconcileRun(ctx context.Context, run *v1alpha1.AnalysisRun, red *analysis.Redactor) (ctrl.Result, error) {
	now := r.now()
	if run.Status.StartedAt == nil {
		run.Status.StartedAt = timePtr(now)
	}
	if run.Status.Phase == "" || run.Status.Phase == v1alpha1.AnalysisPhasePending {
		run.Status.Phase = v1alpha1.AnalysisPhaseRunning
	}
	// work holds the run with its arguments substituted; only its status is written back, so
	// Secret values never reach the API server through the spec.
	work, resolved, err := r.resolve(ctx, run)
	if resolved != nil {
		*red = *resolved
	}
	var transient *transientError
	if errors.As(err, &transient) {
		return ctrl.Result{}, fmt.Errorf("resolve arguments of analysis run %s (retrying): %w", run.Name, transient.err)
	}
	if err != nil {
		failRun(run, err.Error(), r.now())
		return ttlResult(run, r.now()), nil
	}
	r.memory().forget(run.UID, nextIndexes(work), now)
	outcome := assess(work)
	if !outcome.Terminating {
		due, _ := analysis.Schedule(work, now)
		r.measure(ctx, work, due, red)
		outcome = assess(work)
	}
	if outcome.Terminating {
		r.terminate(ctx, work, red)
		outcome = assess(work)
	}
	run.Status = work.Status
	if outcome.Phase.Completed() {
		run.Status.CompletedAt = timePtr(r.now())
		return ttlResult(run, r.now()), nil
	}
	_, next := analysis.Schedule(work, r.now())
	return requeueAt(next, r.now()), nil
}

// nextIndexes is each metric's next measurement index in run's status.
func nextIndexes(run *v1alpha1.AnalysisRun) map[string]int32 {
	out := map[string]int32{}
	for _, res := range run.Status.MetricResults {
		out[res.Name] = measurementIndex(res)
	}
	return out
}

// assess folds work's metric results into its status.
func assess(work *v1alpha1.AnalysisRun) analysis.RunOutcome {
	o := analysis.AssessRun(work.Spec, work.Status.MetricResults)
	st := &work.Status
	st.Phase, st.Message = o.Phase, o.Message
	st.RunSummary, st.DryRunSummary = o.RunSummary, o.DryRunSummary
	st.MetricResults = o.MetricResults
	return o
}

// requeueAt asks to come back at next (nothing when it is zero).
func requeueAt(next, now time.Time) ctrl.Result {
	if next.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: max(next.Sub(now), time.Millisecond)}
}
