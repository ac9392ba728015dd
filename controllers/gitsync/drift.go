package gitsync

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	rov1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/apply"
	"github.com/sluice-dev/sluice/sync/inventory"
)

// +kubebuilder:rbac:groups=argoproj.io,resources=rollouts,verbs=get;list;watch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch

// syncedSet is what a GitSync's last successful sync applied: the desired objects live drift is
// compared against, and how to compare and re-apply them.
type syncedSet struct {
	uid types.UID
	// generation is the GitSync's spec this set was applied under; self-heal acts only while the
	// GitSync is still at it (a later spec that has not synced yet may have turned selfHeal off,
	// changed the ServiceAccount or ignoreDifferences).
	generation int64
	// revision is the commit the set was rendered from; when a reconcile resolves another one
	// (status.sync.revision moves on), self-heal stops putting back the old revision's objects
	// while the new one is fetched, rendered and applied.
	revision       string
	objs           []*unstructured.Unstructured
	byID           map[inventory.ID]*unstructured.Unstructured
	selfHeal       bool
	ignore         []v1alpha1.ResourceIgnoreDifferences
	respectIgnore  bool
	serviceAccount string
}

// driftItem is one managed object of one GitSync, as the drift queue holds it.
type driftItem struct {
	owner types.NamespacedName
	id    inventory.ID
}

// healBook keeps the self-heal history of every object.
type healBook struct {
	mu sync.Mutex
	m  map[driftItem]*healState
}

// mark notes that an object was reported drifted; settle clears the note and reports whether it was
// set (then the GitSync's status must be brought back to in sync).
func (b *healBook) mark(it driftItem) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[driftItem]*healState{}
	}
	h := b.m[it]
	if h == nil {
		h = &healState{}
		b.m[it] = h
	}
	h.reported = true
}

func (b *healBook) settle(it driftItem) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.m[it]
	if h == nil || !h.reported {
		return false
	}
	h.reported = false
	return true
}

// decide says whether self-heal reverts the object now (see healState.decide). When it backs off
// instead, the other writer and the fields are noted for the condition, and started reports
// whether this is a new step of the back-off (the GitSync's status then has something new to
// say); the waits in between are silent.
func (b *healBook) decide(it driftItem, now time.Time, live *unstructured.Unstructured, fields []string) (revert bool, wait time.Duration, started bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[driftItem]*healState{}
	}
	h, ok := b.m[it]
	if !ok {
		h = &healState{}
		b.m[it] = h
	}
	steps := h.backoffs
	revert, wait = h.decide(now)
	if revert {
		return true, 0, false
	}
	if live != nil {
		h.manager = apply.LastOtherManager(live)
	}
	h.fields = slices.Clone(fields)
	return false, wait, h.backoffs != steps
}

// fights returns the objects of owner that self-heal backs off from at now, with a copy of their
// state.
func (b *healBook) fights(owner types.NamespacedName, now time.Time) map[inventory.ID]healState {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[inventory.ID]healState{}
	for it, h := range b.m {
		if it.owner == owner && h.fighting(now) {
			c := *h
			c.reverts, c.fields = slices.Clone(h.reverts), slices.Clone(h.fields)
			out[it.id] = c
		}
	}
	return out
}

func (b *healBook) forget(owner types.NamespacedName) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for it := range b.m {
		if it.owner == owner {
			delete(b.m, it)
		}
	}
}

// syncLock is the lock between a GitSync's self-heal applies and what ends its synced set.
func (r *Reconciler) syncLock(key types.NamespacedName) *sync.RWMutex {
	v, _ := r.syncLocks.LoadOrStore(key, &sync.RWMutex{})
	return v.(*sync.RWMutex)
}

// dropSynced forgets a GitSync's synced set (self-heal stops) once no self-heal apply of it is in
// flight: an operation is about to change its objects, or it is suspended or going away.
func (r *Reconciler) dropSynced(key types.NamespacedName) {
	lock := r.syncLock(key)
	lock.Lock()
	r.synced.Delete(key)
	lock.Unlock()
}

// onLiveChange queues a drift check of a managed object that changed or went away.
func (r *Reconciler) onLiveChange(owner types.NamespacedName, id inventory.ID) {
	r.driftQueue.Add(driftItem{owner: owner, id: id})
}

// runDrift processes the drift queue until ctx ends.
func (r *Reconciler) runDrift(ctx context.Context) {
	go func() {
		<-ctx.Done()
		r.driftQueue.ShutDown()
	}()
	for {
		it, quit := r.driftQueue.Get()
		if quit {
			return
		}
		wait, err := r.checkDrift(ctx, it)
		switch {
		case err != nil:
			log.FromContext(ctx).Error(err, "Self-heal a drifted object", "gitsync", it.owner.String(), "object", apply.Describe(it.id))
			r.driftQueue.AddRateLimited(it)
		case wait > 0:
			r.driftQueue.Forget(it)
			r.driftQueue.AddAfter(it, wait)
		default:
			r.driftQueue.Forget(it)
		}
		r.driftQueue.Done(it)
	}
}

// checkDrift compares one managed object with its desired object. In sync: nothing. Drifted
// without selfHeal: the GitSync's status is brought up to date (OutOfSync with the fields). Drifted
// with selfHeal: that object alone is applied again, unless another writer keeps changing it
// back; then self-heal backs off and says so. It returns how long to wait before looking again.
func (r *Reconciler) checkDrift(ctx context.Context, it driftItem) (time.Duration, error) {
	// Held while comparing and applying, so that an operation starting (or a deletion, or a
	// suspend) waits for this apply and no apply of the old desired state follows it.
	lock := r.syncLock(it.owner)
	lock.RLock()
	defer lock.RUnlock()
	v, ok := r.synced.Load(it.owner)
	if !ok {
		return 0, nil
	}
	set := v.(*syncedSet)
	desired := set.byID[it.id]
	if desired == nil {
		return 0, nil // not in Git (any more): prune's business, not drift
	}
	if current, err := r.current(ctx, it.owner, set); err != nil || !current {
		return 0, err
	}
	live, known := r.watch.Get(desired.GroupVersionKind(), it.id.Namespace, it.id.Name)
	if !known {
		return 0, nil
	}
	if live != nil && otherOwner(live, it.owner) != "" {
		return 0, nil
	}
	cmp := r.comparer(ctx, set.objs, set.ignore, set.respectIgnore)
	drifted, fields := cmp.Drift(live, desired)
	if !drifted {
		if r.heal.settle(it) {
			r.trigger(it.owner, false) // it was reported OutOfSync: report it in sync again
		}
		return 0, nil
	}
	r.metrics.drift(it.owner)
	logger := log.FromContext(ctx).WithValues("gitsync", it.owner.String(), "object", apply.Describe(it.id))
	if !set.selfHeal {
		logger.Info("Drift found", "fields", fields)
		r.heal.mark(it)
		r.trigger(it.owner, false)
		return 0, nil
	}
	revert, wait, started := r.heal.decide(it, r.now(), live, fields)
	if !revert {
		if started {
			manager := ""
			if live != nil {
				manager = apply.LastOtherManager(live)
			}
			logger.Info("Self-heal backs off: another writer keeps changing the object", "manager", manager, "fields", fields, "retryIn", wait.String())
			r.trigger(it.owner, false) // the reconcile says so in the Synced condition
		}
		return wait, nil
	}
	applier, err := r.Clients.For(it.owner.Namespace, set.serviceAccount)
	if err != nil {
		return 0, err
	}
	if _, err := applier.ApplyFilled(ctx, apply.Pending{Desired: desired, Live: live}, cmp.ForApply); err != nil {
		if apierrors.HasStatusCause(unwrapAPI(err), corev1.NamespaceTerminatingCause) {
			logger.V(1).Info("Not putting back an object whose namespace is being deleted")
			return 0, nil
		}
		r.trigger(it.owner, false) // the reconcile reports the object OutOfSync
		return 0, fmt.Errorf("apply %s again: %w", apply.Describe(it.id), err)
	}
	by := ""
	if live != nil {
		by = apply.LastOtherManager(live)
	}
	logger.Info("Reverted drift", "fields", fields, "manager", by)
	r.driftEvent(set, it, desired, fields, by)
	return 0, nil
}

// current reports whether the GitSync a synced set belongs to still stands behind it: the same
// object (uid), not being deleted, not suspended, at the spec and the revision the set was applied
// under. A new revision or a spec change that has not synced yet (or failed to: a render error, a
// fetch failure, an InvalidSpec) stops self-heal until a sync of it succeeds; the reconcile
// reports drift meanwhile.
func (r *Reconciler) current(ctx context.Context, key types.NamespacedName, set *syncedSet) (bool, error) {
	gs := &v1alpha1.GitSync{}
	if err := r.Client.Get(ctx, key, gs); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("read GitSync %s before self-heal: %w", key, err)
	}
	sameRevision := gs.Status.Sync == nil || gs.Status.Sync.Revision == "" || gs.Status.Sync.Revision == set.revision
	return gs.UID == set.uid && gs.DeletionTimestamp == nil && !gs.Spec.Suspend && gs.Generation == set.generation && sameRevision, nil
}

// driftEvent records a revert on the GitSync, naming the fields and who changed them.
// The reverted object is the event's related object, so reverts of different objects are
// separate events rather than one series.
func (r *Reconciler) driftEvent(set *syncedSet, it driftItem, obj *unstructured.Unstructured, fields []string, by string) {
	if r.Recorder == nil {
		return
	}
	gs := &v1alpha1.GitSync{}
	gs.Namespace, gs.Name, gs.UID = it.owner.Namespace, it.owner.Name, set.uid
	gs.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("GitSync"))
	what := strings.Join(fields, ", ")
	if by != "" {
		what += " (changed by " + by + ")"
	}
	if fields[0] == "(missing)" {
		what = "deleted"
	}
	r.Recorder.Eventf(gs, obj, corev1.EventTypeNormal, "DriftReverted", "SelfHeal", "Reverted %s: %s", apply.Describe(it.id), what)
}

// trigger queues a reconcile of a GitSync now; with fetch, its next reconcile fetches instead of
// reusing the last checkout (a webhook push).
func (r *Reconciler) trigger(key types.NamespacedName, fetch bool) {
	if fetch {
		r.forceFetch.Store(key, true)
	}
	gs := &v1alpha1.GitSync{}
	gs.Namespace, gs.Name = key.Namespace, key.Name
	select {
	case r.triggers <- event.GenericEvent{Object: gs}:
	default:
		r.overflow.send(key, func() { r.triggers <- event.GenericEvent{Object: gs} })
	}
}

// overflow holds the triggers that found the channel full (a burst of drift or pushes): one
// goroutine per GitSync waits for room, and a trigger that comes while it waits makes it send once
// more after its send (so a reconcile that already read the state before the trigger is followed
// by another), instead of one goroutine per trigger.
type overflow struct {
	mu      sync.Mutex
	waiting map[types.NamespacedName]bool // true: send again after the send in flight
}

func (o *overflow) send(key types.NamespacedName, send func()) {
	o.mu.Lock()
	if o.waiting == nil {
		o.waiting = map[types.NamespacedName]bool{}
	}
	if _, busy := o.waiting[key]; busy {
		o.waiting[key] = true
		o.mu.Unlock()
		return
	}
	o.waiting[key] = false
	o.mu.Unlock()
	go func() {
		for {
			send()
			o.mu.Lock()
			if !o.waiting[key] {
				delete(o.waiting, key)
				o.mu.Unlock()
				return
			}
			o.waiting[key] = false
			o.mu.Unlock()
		}
	}()
}

// comparer builds the comparison for a GitSync's desired objects: the fields the Rollouts and
// HorizontalPodAutoscalers of their namespaces own (read from the cache), and its
// ignoreDifferences.
func (r *Reconciler) comparer(ctx context.Context, desired []*unstructured.Unstructured, ignore []v1alpha1.ResourceIgnoreDifferences, respect bool) *apply.Comparer {
	namespaces := map[string]bool{}
	var rollouts []*rov1.Rollout
	var hpas []*unstructured.Unstructured
	for _, o := range desired {
		if o.GetNamespace() != "" {
			namespaces[o.GetNamespace()] = true
		}
		switch o.GroupVersionKind().GroupKind() {
		case rov1.GroupVersion.WithKind("Rollout").GroupKind():
			ro := &rov1.Rollout{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, ro); err == nil {
				rollouts = append(rollouts, ro)
			}
		case autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler").GroupKind():
			hpas = append(hpas, o)
		}
	}
	// Every Rollout: one may name a route in another namespace (a VirtualService as name.namespace,
	// a Gateway API route with its namespace). An HPA scales only in its own namespace.
	rollouts = append(rollouts, r.liveRollouts(ctx)...)
	for ns := range namespaces {
		hpas = append(hpas, r.liveHPAs(ctx, ns)...)
	}
	return &apply.Comparer{Others: apply.NewOthers(rollouts, hpas), Ignore: ignore, RespectIgnore: respect}
}

// liveRollouts lists the cluster's Rollouts from the cache, without copying them: they are only
// read (apply.NewOthers records names and fields; it never changes a Rollout).
func (r *Reconciler) liveRollouts(ctx context.Context) []*rov1.Rollout {
	list := &rov1.RolloutList{}
	if err := r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		if !meta.IsNoMatchError(err) {
			log.FromContext(ctx).V(1).Info("List the Rollouts whose fields the sync leaves alone", "error", err.Error())
		}
		return nil
	}
	out := make([]*rov1.Rollout, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out
}

func (r *Reconciler) liveHPAs(ctx context.Context, ns string) []*unstructured.Unstructured {
	list := &autoscalingv2.HorizontalPodAutoscalerList{}
	if err := r.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
		log.FromContext(ctx).V(1).Info("List the HorizontalPodAutoscalers whose replicas the sync leaves alone", "namespace", ns, "error", err.Error())
		return nil
	}
	out := make([]*unstructured.Unstructured, 0, len(list.Items))
	for i := range list.Items {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&list.Items[i])
		if err != nil {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetGroupVersionKind(autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"))
		out = append(out, u)
	}
	return out
}
