// Package gitsync holds the GitSyncReconciler: fetch the config repository, render the path,
// compare with the cluster, apply by phase and wave, prune, assess health, write status. The
// status is written in a defer so that every exit path records what happened.
package gitsync

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	gitsource "github.com/sluice-dev/sluice/sync/source"
)

// Finalizer lets a GitSync prune (or let go of) what it applied before it goes.
const Finalizer = "sluice.dev/gitsync"

// EventReporter is the name events of this controller carry.
const EventReporter = "sluice-sync"

// Reconciler reconciles GitSyncs.
type Reconciler struct {
	Client client.Client
	// APIReader reads Secrets without caching every Secret of the cluster.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Fetcher   *gitsource.Fetcher
	// Clients builds the appliers each GitSync writes through.
	Clients *Clients
	// DefaultServiceAccount is impersonated by GitSyncs that name no ServiceAccount; empty means
	// the controller's own identity.
	DefaultServiceAccount string
	// Workers is the number of GitSyncs reconciled in parallel; 4 when zero.
	Workers int
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// DriftWorkers is the number of drift checks run in parallel; 4 when zero.
	DriftWorkers int

	// synced keeps what each GitSync's last successful sync applied (the objects live drift is
	// compared against).
	synced    sync.Map // types.NamespacedName -> *syncedSet
	syncLocks sync.Map // types.NamespacedName -> *sync.RWMutex (see dropSynced)
	// watch holds the informers of managed objects; driftQueue their changes to compare.
	watch      *liveWatch
	driftQueue workqueue.TypedRateLimitingInterface[driftItem]
	heal       healBook
	// triggers wakes GitSyncs from outside their own events (drift, webhooks).
	triggers chan event.GenericEvent
	overflow overflow // triggers waiting for room in the channel
	// forceFetch marks GitSyncs whose next reconcile fetches at once (a webhook push).
	forceFetch sync.Map // types.NamespacedName -> bool
	metrics    *metrics
	// lastFetch is each GitSync's last successful fetch (fetched).
	lastFetch sync.Map // types.NamespacedName -> fetched
	// fetchFailures counts consecutive failed fetches, for the retry backoff.
	fetchFailures sync.Map // types.NamespacedName -> int
}

// +kubebuilder:rbac:groups=sluice.dev,resources=gitsyncs,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=sluice.dev,resources=gitsyncs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=sluice.dev,resources=gitsyncs/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=impersonate

// Desired returns the objects of a GitSync's last successful render, nil before the first.
func (r *Reconciler) Desired(key types.NamespacedName) []*unstructured.Unstructured {
	if v, ok := r.synced.Load(key); ok {
		return v.(*syncedSet).objs
	}
	return nil
}

// Reconcile brings one GitSync's objects in line with Git.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	gs := &v1alpha1.GitSync{}
	if err := r.Client.Get(ctx, req.NamespacedName, gs); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(ctx, req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get gitsync %s: %w", req, err)
	}
	logger := log.FromContext(ctx).WithValues("gitsync", req.String(), "generation", gs.Generation)
	ctx = log.IntoContext(ctx, logger)
	if gs.DeletionTimestamp != nil {
		return r.finalize(ctx, gs)
	}
	if !controllerutil.ContainsFinalizer(gs, Finalizer) {
		// A merge patch of the finalizers alone: an Update would send the whole typed spec,
		// empty structs included (render: {}), and that is a spec change: a new generation, and a
		// second operation that meets the first one's hooks.
		orig := gs.DeepCopy()
		controllerutil.AddFinalizer(gs, Finalizer)
		if err := r.Client.Patch(ctx, gs, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer to gitsync %s: %w", req, err)
		}
	}

	s := &run{r: r, gs: gs, base: gs.DeepCopy(), now: r.now(), log: logger}
	defer func() {
		if werr := s.writeStatus(ctx); werr != nil && err == nil {
			err = werr
		}
	}()
	if gs.Spec.Suspend {
		r.dropSynced(req.NamespacedName)
		s.suspended()
		return ctrl.Result{}, nil
	}
	return s.sync(ctx)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// forget drops what this process keeps for a GitSync that is gone.
func (r *Reconciler) forget(ctx context.Context, key types.NamespacedName) {
	r.dropSynced(key)
	r.syncLocks.Delete(key)
	r.heal.forget(key)
	r.forceFetch.Delete(key)
	r.watch.Track(key, nil)
	r.metrics.forget(key)
	r.lastFetch.Delete(key)
	r.fetchFailures.Delete(key)
	if r.Fetcher != nil {
		if err := r.Fetcher.Forget(cacheKey(key)); err != nil {
			log.FromContext(ctx).Error(err, "Remove the Git cache of a deleted GitSync", "gitsync", key.String())
		}
	}
}

func cacheKey(key types.NamespacedName) string { return key.Namespace + "/" + key.Name }

// SetupWithManager registers the controller. A GitSync is reconciled when its spec or its
// annotations change (sluice.dev/sync-requested), and on its interval; its own status writes do not
// wake it.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	workers := r.Workers
	if workers <= 0 {
		workers = 4
	}
	r.triggers = make(chan event.GenericEvent, 1024)
	r.driftQueue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[driftItem](), workqueue.TypedRateLimitingQueueConfig[driftItem]{Name: "gitsync-drift"})
	r.metrics = newMetrics(ctrlmetrics.Registry)
	dyn, mapper := r.Clients.Own()
	r.watch = newLiveWatch(dyn, mapper, mgr.GetLogger().WithName("gitsync-watch"), r.onLiveChange)
	if err := mgr.Add(manager.RunnableFunc(r.runDriftWorkers)); err != nil {
		return fmt.Errorf("add the drift workers: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.GitSync{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{},
			predicate.LabelChangedPredicate{}, deletionPredicate()))).
		WatchesRawSource(source.Channel(r.triggers, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Named("gitsync").
		Complete(r)
}

// runDriftWorkers compares changed managed objects with Git until ctx ends (on the leader only).
func (r *Reconciler) runDriftWorkers(ctx context.Context) error {
	n := r.DriftWorkers
	if n <= 0 {
		n = 4
	}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithName("gitsync-drift"))
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { r.runDrift(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
	r.watch.Stop()
	return nil
}

// deletionPredicate passes the update that sets a deletion timestamp.
func deletionPredicate() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectNew.GetDeletionTimestamp() != nil
	}}
}

// run is one reconcile of one GitSync.
type run struct {
	r    *Reconciler
	gs   *v1alpha1.GitSync
	base *v1alpha1.GitSync // as last read or written, for the status patch
	now  time.Time
	log  logr.Logger
}

// writeStatus writes the status when it changed, as a merge patch: the status is this
// controller's alone, so a concurrent change of the GitSync's metadata or spec (a sync request
// during a long reconcile) never makes it lose what it recorded (hooks created, inventory).
func (s *run) writeStatus(ctx context.Context) error {
	s.gs.Status.ObservedGeneration = s.gs.Generation
	return s.patchStatus(ctx)
}

// patchStatus writes the status as writeStatus does, without marking the spec observed: a write in
// the middle of a reconcile (the resolved revision) must not make a parent GitSync, or the next
// reconcile, take a spec it has not acted on yet for one it has.
func (s *run) patchStatus(ctx context.Context) error {
	if equality.Semantic.DeepEqual(s.base.Status, s.gs.Status) {
		return nil
	}
	if err := s.r.Client.Status().Patch(ctx, s.gs, client.MergeFrom(s.base)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("write status of gitsync %s/%s: %w", s.gs.Namespace, s.gs.Name, err)
	}
	s.base = s.gs.DeepCopy()
	return nil
}

// credentials reads the Secret of source.secretRef. Its values never reach logs, events or status.
func (s *run) credentials(ctx context.Context) (*gitsource.Credentials, error) {
	ref := s.gs.Spec.Source.SecretRef
	if ref == nil || ref.Name == "" {
		return nil, nil
	}
	sec := &corev1.Secret{}
	if err := s.r.APIReader.Get(ctx, client.ObjectKey{Namespace: s.gs.Namespace, Name: ref.Name}, sec); err != nil {
		return nil, fmt.Errorf("read the credentials Secret %s/%s: %w", s.gs.Namespace, ref.Name, err)
	}
	return &gitsource.Credentials{
		Username:      string(sec.Data["username"]),
		Password:      string(sec.Data["password"]),
		BearerToken:   string(sec.Data["bearerToken"]),
		SSHPrivateKey: sec.Data["sshPrivateKey"],
		KnownHosts:    sec.Data["knownHosts"],
	}, nil
}
