// Package rollout holds the RolloutReconciler: a thin frame around the pure planner in plan/.
// Each reconcile observes (Rollout, ReplicaSets, Services, AnalysisRuns, pods when restarting),
// plans, writes the planned status first (so a decision is never acted on unless it was
// recorded), then executes the plan's intents.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout/plan"
	"github.com/sluice-dev/sluice/trafficrouting"
)

// FieldManager is the field manager and event reporter of the rollout controller.
const FieldManager = "sluice-rollout-controller"

// RunBuilder builds the AnalysisRun a plan asks for; Reconciler.Runs may be nil, in which case
// analysis steps wait.
type RunBuilder func(ctx context.Context, ro *v1alpha1.Rollout, req plan.RunRequest) (*v1alpha1.AnalysisRun, error)

// Reconciler reconciles Rollouts.
type Reconciler struct {
	Client client.Client
	// APIReader reads without the cache (pods for a restart); Client when nil.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Runs builds AnalysisRuns from templates.
	Runs RunBuilder
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Workers is the number of Rollouts reconciled in parallel; 1 when zero.
	Workers int

	// What this process remembers of each Rollout between reconciles is keyed by the Rollout's
	// UID, so that a Rollout deleted and created again under the same name (even between two
	// reconciles, when no NotFound is ever seen) inherits none of it; uids finds the entries of a
	// name to drop them when the Rollout is gone or replaced.
	uids sync.Map // types.NamespacedName -> types.UID
	// pauses remembers the precise start of pause conditions this process set, by Rollout.
	pauses sync.Map // types.UID -> map[v1alpha1.PauseReason]time.Time
	// defaults caches each Rollout's API-server-defaulted pod template (the namespace's defaults
	// apply, so one Rollout's is not another's), for matching ReplicaSets by template.
	defaults sync.Map // types.UID -> defaulted
	// expect holds the writes the cache has not shown yet.
	expect expectations
	// pendingCounts are a Rollout's replica counts that wait to be written, since when they have
	// been those (plan.Observed.PendingCounts, CountsChangedAt) and since when counts are held.
	pendingCounts sync.Map // types.UID -> pending
	// actionErrors holds why the last execution of a plan failed, by Rollout, until one succeeds.
	actionErrors sync.Map // types.UID -> string
	// retryBackoff spaces the retries of failed executions (retries).
	retryBackoff workqueue.TypedRateLimiter[types.NamespacedName]
	retriesOnce  sync.Once
	// released is what releasing unreferenced objects keeps (release.go).
	released releaser
}

// statusCoalesce is how long a change that only moves replica counts is held, in every phase,
// from when the first such change after a status write is seen: what follows within it (more pods
// of a scale starting, the step transition the pods lead to) goes out in the same write, and a
// count change reaches the status within this time plus one reconcile. People and tools watch
// these numbers, and Argo Rollouts shows them within 2 s; one second keeps a burst of pod changes
// to about one write a second.
const statusCoalesce = time.Second

// The rights the rollout controller uses, each named by the code that needs it (config/rbac is
// generated from these lines; the e2e controllers run under it).
// Rollouts are read from the cache; their status is replaced (writeStatus, recordActionError) and
// merge-patched (execute).
// +kubebuilder:rbac:groups=argoproj.io,resources=rollouts,verbs=get;list;watch
// +kubebuilder:rbac:groups=argoproj.io,resources=rollouts/status,verbs=update;patch
// ReplicaSets and AnalysisRuns are created (and ReplicaSets adopted) with a controller reference
// that blocks the Rollout's deletion, which needs update on rollouts/finalizers.
// +kubebuilder:rbac:groups=argoproj.io,resources=rollouts/finalizers,verbs=update
// AnalysisRuns: created, terminated (a spec merge patch) and deleted.
// +kubebuilder:rbac:groups=argoproj.io,resources=analysisruns,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=argoproj.io,resources=analysistemplates;clusteranalysistemplates,verbs=get;list;watch
// ReplicaSets: created, scaled, adopted, re-stamped and given pod metadata (merge patches), deleted.
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch;create;patch;delete
// Deployments: a workloadRef's template is read and its replicas scaled down (a merge patch).
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;patch
// Services: selectors switched by a merge patch.
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;patch
// Pods: listed uncached (restarts, pod metadata), relabelled by canary/stableMetadata, deleted by
// restarts.
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;patch;delete
// PodTemplates: a dry-run create defaults a template to compare it with a foreign ReplicaSet's.
// +kubebuilder:rbac:groups="",resources=podtemplates,verbs=create
// Events of the Rollout and of the objects it changes (events.k8s.io through GetEventRecorder).
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one Rollout a step closer to its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ro := &v1alpha1.Rollout{}
	if err := r.Client.Get(ctx, req.NamespacedName, ro); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, r.releaseGone(ctx, req.NamespacedName)
		}
		return ctrl.Result{}, fmt.Errorf("get rollout %s: %w", req, err)
	}
	r.track(req.NamespacedName, ro.UID)
	if ro.DeletionTimestamp != nil {
		// Owner references let the garbage collector remove the rest; what it does not own is released.
		return ctrl.Result{}, r.releaseDeleting(ctx, ro)
	}
	if !r.expect.satisfied(ctx, r.Client, req.NamespacedName, ro.ResourceVersion) {
		// The cache has not seen our last writes; their watch events will bring us back.
		return ctrl.Result{RequeueAfter: expectationTimeout}, nil
	}
	logger := log.FromContext(ctx).WithValues("rollout", req.String(), "generation", ro.Generation)
	ctx = log.IntoContext(ctx, logger)

	obs, err := r.observe(ctx, ro, req.NamespacedName)
	if err != nil {
		return ctrl.Result{}, err
	}
	rts, err := r.observeRouting(ctx, ro, &obs)
	if err != nil {
		return ctrl.Result{}, err
	}
	now := r.now()
	if v, ok := r.pendingCounts.Load(ro.UID); ok {
		pc := v.(pending)
		obs.PendingCounts, obs.CountsChangedAt = &pc.counts, pc.since
	}
	obs.ActionError = r.lastActionError(ro.UID)
	p := plan.Next(ro, obs, now)

	written, err := r.writeStatus(ctx, req.NamespacedName, ro, &p)
	if err != nil {
		if p.Status.Abort {
			// A safety action does not wait for its record: traffic goes back to stable now.
			r.abortTraffic(ctx, ro, p, rts)
		}
		if apierrors.IsConflict(err) {
			// Someone changed the Rollout meanwhile (a promote, an abort): plan again on the new one.
			logger.V(1).Info("Rollout changed while planning, planning again")
			return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
		}
		return ctrl.Result{}, err
	}
	recorded := ro.Status
	if written {
		recorded = p.Status
		logTransition(logger, ro, &p.Status)
		// A pause runs from when its condition is recorded, so it is never shorter than declared.
		r.rememberPauses(ro.UID, p.PauseStarted, r.now())
	}
	// Transitions are recorded once the status holds them, whatever happens to the actions next.
	for _, e := range p.Events {
		r.Recorder.Eventf(ro, nil, e.Type, e.Reason, "Rollout", "%s", e.Message)
	}
	err = errors.Join(r.execute(ctx, req.NamespacedName, ro, p, rts), r.releaseUnreferenced(ctx, ro))
	return r.finish(ctx, req.NamespacedName, ro, p, recorded, err), nil
}

// finish records how carrying out a plan went and says when to look again: at the plan's time
// after a success; after a failure at the sooner of that and the retry backoff, so that a pause
// or a scale-down delay still ends on time while a failing write is retried at most 10 s apart.
// A failure is logged, recorded as a Warning event and named in the Progressing condition until
// an execution succeeds (plan.ReportActionError).
func (r *Reconciler) finish(ctx context.Context, key types.NamespacedName, ro *v1alpha1.Rollout, p plan.Plan, recorded v1alpha1.RolloutStatus, err error) ctrl.Result {
	if err == nil {
		r.retries().Forget(key)
		if _, failed := r.actionErrors.LoadAndDelete(ro.UID); failed {
			r.recordActionError(ctx, key, ro, recorded, "")
		}
		return ctrl.Result{RequeueAfter: p.RequeueAfter}
	}
	logger := log.FromContext(ctx)
	if namespaceTerminating(err) {
		// The namespace is being deleted and takes the Rollout with it: nothing to retry.
		logger.V(1).Info("Namespace is terminating, not acting", "error", err.Error())
		return ctrl.Result{}
	}
	msg := err.Error()
	r.actionErrors.Store(ro.UID, msg)
	logger.Error(err, "Carrying out the plan failed; the phases after the failing one did not run")
	r.Recorder.Eventf(ro, nil, corev1.EventTypeWarning, "ReconcileError", "Reconcile", "%s", msg)
	r.recordActionError(ctx, key, ro, recorded, msg)
	return ctrl.Result{RequeueAfter: retryAfter(p.RequeueAfter, r.retries().When(key))}
}

// retryAfter is when to retry a failed execution: after the backoff, or sooner when the plan
// wants to look again sooner (a pause's end, a scale-down deadline).
func retryAfter(planned, backoff time.Duration) time.Duration {
	if planned > 0 && planned < backoff {
		return planned
	}
	return backoff
}

// lastActionError returns the failure of the last execution for this very Rollout, if any.
func (r *Reconciler) lastActionError(uid types.UID) string {
	if v, ok := r.actionErrors.Load(uid); ok {
		return v.(string)
	}
	return ""
}

// track records that key names the Rollout uid. When the name named another Rollout before (it
// was deleted and created again), what this process remembered of the old one is dropped.
func (r *Reconciler) track(key types.NamespacedName, uid types.UID) {
	if old, loaded := r.uids.Swap(key, uid); loaded && old.(types.UID) != uid {
		r.forgetUID(old.(types.UID))
		r.retries().Forget(key)
		r.expect.forget(key)
	}
}

// forget drops what this process remembers of the Rollout key names, once it is gone.
func (r *Reconciler) forget(key types.NamespacedName) {
	if old, loaded := r.uids.LoadAndDelete(key); loaded {
		r.forgetUID(old.(types.UID))
	}
	r.retries().Forget(key)
	r.expect.forget(key)
}

func (r *Reconciler) forgetUID(uid types.UID) {
	r.pauses.Delete(uid)
	r.defaults.Delete(uid)
	r.pendingCounts.Delete(uid)
	r.actionErrors.Delete(uid)
}

// recordActionError writes the failure of an execution into the recorded status (or, with msg
// empty, takes it out), as the next plan would.
func (r *Reconciler) recordActionError(ctx context.Context, key types.NamespacedName, ro *v1alpha1.Rollout, recorded v1alpha1.RolloutStatus, msg string) {
	status := recorded.DeepCopy()
	plan.ReportActionError(status, msg)
	if equality.Semantic.DeepEqual(recorded, *status) {
		return
	}
	updated := ro.DeepCopy()
	updated.Status = *status
	if err := r.Client.Status().Update(ctx, updated); err != nil {
		// The next plan reports it (Observed.ActionError).
		log.FromContext(ctx).V(1).Info("Could not record the outcome of the last execution", "error", err.Error())
		return
	}
	ro.ResourceVersion = updated.ResourceVersion
	r.expect.wroteRollout(key, updated.ResourceVersion)
}

// abortTraffic sends an abort's traffic back to stable when the status that records the abort
// could not be written.
func (r *Reconciler) abortTraffic(ctx context.Context, ro *v1alpha1.Rollout, p plan.Plan, rts []trafficrouting.TrafficRouter) {
	if err := r.applyRouting(ctx, ro, r.abortRouters(ro, rts), p.Routing); err != nil {
		log.FromContext(ctx).Error(err, "Abort could not move all traffic back to stable")
		r.Recorder.Eventf(ro, nil, corev1.EventTypeWarning, "ReconcileError", "Abort", "abort: route traffic: %s", err.Error())
	}
}

// retries is the backoff of failed executions, by Rollout: 5 ms doubling up to maxBackoff.
func (r *Reconciler) retries() workqueue.TypedRateLimiter[types.NamespacedName] {
	r.retriesOnce.Do(func() {
		r.retryBackoff = workqueue.NewTypedItemExponentialFailureRateLimiter[types.NamespacedName](5*time.Millisecond, maxBackoff)
	})
	return r.retryBackoff
}

// maxBackoff caps the retry delay of a failed reconcile, as Argo Rollouts does (controller-runtime's
// default grows to about 16 minutes).
const maxBackoff = 10 * time.Second

// newRateLimiter is the queue's per-Rollout retry backoff for reconciles that return an error.
func newRateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, maxBackoff)
}

// namespaceTerminating reports whether err (all of it, when it joins several) is the API server
// refusing to create objects in a namespace that is being deleted.
func namespaceTerminating(err error) bool {
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, one := range e.Unwrap() {
			if !namespaceTerminating(one) {
				return false
			}
		}
		return len(e.Unwrap()) > 0
	case *apierrors.StatusError:
		return apierrors.HasStatusCause(e, corev1.NamespaceTerminatingCause)
	case interface{ Unwrap() error }:
		return namespaceTerminating(e.Unwrap())
	}
	return false
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// writeStatus writes the planned status when it differs, with optimistic locking: a status
// someone else changed since we read it is planned again, never overwritten. A change of replica
// counts alone is held for statusCoalesce from the first one held, to go out with the changes
// that follow it.
func (r *Reconciler) writeStatus(ctx context.Context, key types.NamespacedName, ro *v1alpha1.Rollout, p *plan.Plan) (bool, error) {
	status := p.Status
	if equality.Semantic.DeepEqual(ro.Status, status) {
		r.pendingCounts.Delete(ro.UID)
		return false, nil
	}
	if countsOnly(ro.Status, status) {
		now := r.now()
		held := pending{counts: plan.CountsOf(&status), since: now, held: now}
		if v, ok := r.pendingCounts.Load(ro.UID); ok {
			old := v.(pending)
			held.held = old.held
			if old.counts == held.counts {
				held.since = old.since
			}
		}
		r.pendingCounts.Store(ro.UID, held)
		if wait := statusCoalesce - now.Sub(held.held); wait > 0 {
			// Held counts are never left stale: the reconcile comes back when the hold ends.
			if p.RequeueAfter == 0 || wait < p.RequeueAfter {
				p.RequeueAfter = wait
			}
			return false, nil
		}
	}
	updated := ro.DeepCopy()
	updated.Status = status
	if err := r.Client.Status().Update(ctx, updated); err != nil {
		return false, fmt.Errorf("update status of rollout %s/%s: %w", ro.Namespace, ro.Name, err)
	}
	ro.ResourceVersion = updated.ResourceVersion
	r.pendingCounts.Delete(ro.UID)
	r.expect.wroteRollout(key, updated.ResourceVersion)
	return true, nil
}

// pending are replica counts waiting to be written, since when they have been those, and since
// when the Rollout has had counts waiting (the first count change held after the last write).
type pending struct {
	counts plan.Counts
	since  time.Time
	held   time.Time
}

// countsOnly reports whether two statuses differ only in replica counts, condition times and the
// progress message: nothing a person or a tool acts on at once.
func countsOnly(a, b v1alpha1.RolloutStatus) bool {
	norm := func(s v1alpha1.RolloutStatus) v1alpha1.RolloutStatus {
		s = *s.DeepCopy()
		s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas, s.HPAReplicas = 0, 0, 0, 0, 0
		if s.Phase == v1alpha1.RolloutPhaseProgressing {
			s.Message = ""
		}
		for i := range s.Conditions {
			s.Conditions[i].LastUpdateTime, s.Conditions[i].LastTransitionTime = metav1.Time{}, metav1.Time{}
		}
		return s
	}
	return equality.Semantic.DeepEqual(norm(a), norm(b))
}

// logTransition logs at info level only when the phase, step or stable ReplicaSet changes; the
// rest is detail for V(1).
func logTransition(logger logr.Logger, ro *v1alpha1.Rollout, next *v1alpha1.RolloutStatus) {
	prev := &ro.Status
	step := func(s *v1alpha1.RolloutStatus) any {
		if s.CurrentStepIndex == nil {
			return nil
		}
		return *s.CurrentStepIndex
	}
	if prev.Phase != next.Phase || prev.StableRS != next.StableRS || fmt.Sprint(step(prev)) != fmt.Sprint(step(next)) || prev.Abort != next.Abort {
		logger.Info("Rollout transition", "phase", next.Phase, "message", next.Message, "step", step(next),
			"stableRS", next.StableRS, "currentPodHash", next.CurrentPodHash, "abort", next.Abort)
		return
	}
	logger.V(1).Info("Rollout status updated", "phase", next.Phase, "replicas", next.Replicas,
		"updated", next.UpdatedReplicas, "available", next.AvailableReplicas)
}

func (r *Reconciler) rememberPauses(uid types.UID, started map[v1alpha1.PauseReason]time.Time, at time.Time) {
	if len(started) == 0 {
		return
	}
	merged := map[v1alpha1.PauseReason]time.Time{}
	if old, ok := r.pauses.Load(uid); ok {
		for k, v := range old.(map[v1alpha1.PauseReason]time.Time) {
			merged[k] = v
		}
	}
	for k := range started {
		merged[k] = at
	}
	r.pauses.Store(uid, merged)
}

// pauseStarts returns the pause starts remembered for the Rollout key names now (Reconcile tracks
// its UID before observing).
func (r *Reconciler) pauseStarts(key types.NamespacedName) map[v1alpha1.PauseReason]time.Time {
	uid, ok := r.uids.Load(key)
	if !ok {
		return nil
	}
	if v, ok := r.pauses.Load(uid); ok {
		return v.(map[v1alpha1.PauseReason]time.Time)
	}
	return nil
}

// SetupWithManager registers the controller: Rollouts, and the ReplicaSets, Services and
// AnalysisRuns that lead back to one.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := indexFields(context.Background(), mgr); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("rollout").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1), RateLimiter: newRateLimiter()}).
		For(&v1alpha1.Rollout{}).
		Owns(&appsv1.ReplicaSet{}).
		Owns(&v1alpha1.AnalysisRun{}).
		Watches(&corev1.Service{}, byIndex(mgr.GetClient(), serviceIndex)).
		Watches(&appsv1.Deployment{}, byIndex(mgr.GetClient(), workloadIndex)).
		Watches(&v1alpha1.AnalysisTemplate{}, templateHandler(mgr.GetClient(), false)).
		Watches(&v1alpha1.ClusterAnalysisTemplate{}, templateHandler(mgr.GetClient(), true))
	b, err := r.watchReleases(mgr, watchRoutes(mgr, b))
	if err != nil {
		return err
	}
	return b.Complete(r)
}
