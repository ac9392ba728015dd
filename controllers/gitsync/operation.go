package gitsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/apply"
	"github.com/sluice-dev/sluice/sync/health"
	"github.com/sluice-dev/sluice/sync/inventory"
)

// waitStep is how soon a running operation looks again at objects it waits for.
const waitStep = time.Second

// operation runs one sync: PreSync hooks, the Sync waves, prune, PostSync hooks. Its progress is
// kept in status.operationState, so a later reconcile continues where this one stopped.
type operation struct {
	run      *run
	applier  *apply.Applier
	ds       *desiredState
	revision string
	// failedReason is the condition reason of a failed operation.
	failedReason string
}

// start begins a new operation, counting it as a retry of a failed one on the same revision.
func (o *operation) start() {
	st := &o.run.gs.Status
	retry := int64(0)
	if prev := st.OperationState; prev != nil && prev.Phase == v1alpha1.OperationFailed && prev.Revision == o.revision &&
		!o.run.syncRequested() && !o.run.specChanged() {
		retry = prev.RetryCount + 1
	}
	now := metav1.NewTime(o.run.now)
	st.OperationState = &v1alpha1.OperationState{Phase: v1alpha1.OperationRunning, Revision: o.revision, StartedAt: &now, RetryCount: retry,
		Generation: o.run.gs.Generation, Message: "sync started"}
	st.LastSyncRequested = o.run.gs.Annotations[v1alpha1.AnnotationSyncRequested]
	o.run.log.Info("Sync started", "revision", o.revision, "retry", retry, "outOfSync", len(o.ds.outOfSync), "stale", len(o.ds.stale))
	o.run.event(corev1.EventTypeNormal, "SyncStarted", "Sync", "Syncing %s (retry %d)", short(o.revision), retry)
}

func (o *operation) state() *v1alpha1.OperationState { return o.run.gs.Status.OperationState }

func (o *operation) succeeded() bool { return o.state().Phase == v1alpha1.OperationSucceeded }

// execute runs the operation as far as it can go now; it returns how soon to look again while it
// waits (0 when it finished).
func (o *operation) execute(ctx context.Context) time.Duration {
	if o.run.gs.Spec.HasSyncOption("CreateNamespace") {
		if err := o.ensureNamespace(ctx); err != nil {
			o.fail(ctx, v1alpha1.ReasonApplyFailed, err)
			return 0
		}
	}
	waves := o.ds.plan.Waves
	lastSync := -1
	for i, w := range waves {
		if w.Phase != apply.PhasePostSync {
			lastSync = i
		}
	}
	pruned := false
	for i, w := range waves {
		if w.Phase == apply.PhasePostSync && !pruned {
			if done, err := o.prune(ctx); err != nil || !done {
				return o.stopped(ctx, v1alpha1.ReasonPruneFailed, err)
			}
			pruned = true
		}
		// Health gates the next wave; the last one is waited for only when PostSync hooks follow.
		gate := i < lastSync || (i == lastSync && lastSync < len(waves)-1)
		done, reason, err := o.wave(ctx, w, gate)
		if err != nil || !done {
			return o.stopped(ctx, reason, err)
		}
	}
	if !pruned {
		if done, err := o.prune(ctx); err != nil || !done {
			return o.stopped(ctx, v1alpha1.ReasonPruneFailed, err)
		}
	}
	o.finish()
	return 0
}

// stopped handles a phase that did not finish: a failure ends the operation, waiting requeues.
func (o *operation) stopped(ctx context.Context, reason string, err error) time.Duration {
	if err != nil {
		o.fail(ctx, reason, err)
		return 0
	}
	return waitStep
}

// wave applies the objects of one wave that differ from Git and runs its hooks; with gate, it is
// done only once every object and hook of the wave is healthy (or suspended).
func (o *operation) wave(ctx context.Context, w apply.Wave, gate bool) (bool, string, error) {
	var objs, hooks []apply.Task
	for _, t := range w.Tasks {
		if t.Hook {
			hooks = append(hooks, t)
		} else {
			objs = append(objs, t)
		}
	}
	if reason, err := o.applyObjects(ctx, objs); err != nil {
		return false, reason, err
	}
	hooksDone := true
	for _, t := range hooks {
		done, err := o.hook(ctx, t)
		if err != nil {
			return false, v1alpha1.ReasonHookFailed, err
		}
		hooksDone = hooksDone && done
	}
	if !hooksDone {
		o.state().Message = fmt.Sprintf("waiting for the %s hooks of wave %d", w.Phase, w.Wave)
		return false, "", nil
	}
	if !gate {
		return true, "", nil
	}
	for _, t := range objs {
		if o.run.isSelf(t.ID) {
			continue // a GitSync that manages its own manifest does not wait for itself
		}
		h := health.Assess(o.ds.live[t.ID])
		switch h.Status {
		case v1alpha1.HealthHealthy, v1alpha1.HealthSuspended:
		case v1alpha1.HealthDegraded:
			return false, v1alpha1.ReasonApplyFailed, fmt.Errorf("%s is Degraded (%s); later waves are not applied", apply.Describe(t.ID), h.Message)
		default:
			o.state().Message = fmt.Sprintf("waiting for wave %d: %s is %s", w.Wave, apply.Describe(t.ID), h.Status)
			return false, "", nil
		}
	}
	return true, "", nil
}

// applyObjects applies the objects of a wave that differ from Git: Namespaces and CRDs first (the
// CRDs until Established, then the REST mapping is refreshed), then the rest concurrently.
func (o *operation) applyObjects(ctx context.Context, tasks []apply.Task) (string, error) {
	var first, rest []apply.Task
	fights := o.run.r.heal.fights(o.run.key(), o.run.now)
	for _, t := range tasks {
		if other, shared := o.ds.shared[t.ID]; shared {
			msg := fmt.Sprintf("%s is managed by GitSync %s; not taking it over", apply.Describe(t.ID), other)
			o.record(t, v1alpha1.ResultSyncFailed, msg)
			return v1alpha1.ReasonSharedResource, fmt.Errorf("%s", msg)
		}
		if _, differs := o.ds.outOfSync[t.ID]; !differs {
			o.recordOnce(t, v1alpha1.ResultSynced, "unchanged")
			continue
		}
		if _, fighting := fights[t.ID]; fighting && o.revision == o.run.gs.Status.LastAppliedRevision {
			// Another writer keeps changing this object back and self-heal backs off from it: an
			// operation of the same revision (started for another object) does not fight in its
			// place. The Synced condition names the writer; a new revision, a spec change or a
			// requested sync applies it again.
			continue
		}
		if t.ID.Kind == "Namespace" || apply.IsCRD(t.Obj) {
			first = append(first, t)
		} else {
			rest = append(rest, t)
		}
	}
	for _, group := range [][]apply.Task{first, rest} {
		if err := o.applyGroup(ctx, group); err != nil {
			return v1alpha1.ReasonApplyFailed, err
		}
		if hasCRD(group) {
			if err := o.awaitEstablished(ctx, group); err != nil {
				return v1alpha1.ReasonApplyFailed, err
			}
			o.applier.ResetMapping()
		}
	}
	return "", nil
}

func hasCRD(ts []apply.Task) bool {
	return slices.ContainsFunc(ts, func(t apply.Task) bool { return apply.IsCRD(t.Obj) })
}

func (o *operation) applyGroup(ctx context.Context, group []apply.Task) error {
	if len(group) == 0 {
		return nil
	}
	ps := make([]apply.Pending, len(group))
	for i, t := range group {
		ps[i] = apply.Pending{Desired: t.Obj, Live: o.ds.live[t.ID]}
	}
	var failed []error
	// ForApply keeps what other controllers own, conditional on the live version it read.
	for i, out := range o.applier.ApplyAll(ctx, ps, o.ds.cmp.ForApply) {
		t := group[i]
		if out.Err != nil {
			o.record(t, v1alpha1.ResultSyncFailed, out.Err.Error())
			failed = append(failed, out.Err)
			continue
		}
		o.ds.live[t.ID] = out.Live
		delete(o.ds.outOfSync, t.ID)
		o.record(t, v1alpha1.ResultSynced, "applied")
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return failed[0]
	default:
		return fmt.Errorf("%w (and %d more objects failed)", failed[0], len(failed)-1)
	}
}

// awaitEstablished waits, up to 30s, until the CRDs of group are Established.
func (o *operation) awaitEstablished(ctx context.Context, group []apply.Task) error {
	deadline := time.Now().Add(30 * time.Second)
	for _, t := range group {
		if !apply.IsCRD(t.Obj) {
			continue
		}
		for {
			live, err := o.applier.Get(ctx, t.Obj.GroupVersionKind(), "", t.ID.Name)
			if err != nil {
				return err
			}
			if live != nil && health.Assess(live).Status == v1alpha1.HealthHealthy {
				o.ds.live[t.ID] = live
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s is not Established after 30s", apply.Describe(t.ID))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// ensureNamespace creates the destination namespace when it is missing (CreateNamespace=true).
func (o *operation) ensureNamespace(ctx context.Context) error {
	ns := o.run.gs.Spec.Destination.Namespace
	if ns == "" {
		return nil
	}
	gvk := corev1.SchemeGroupVersion.WithKind("Namespace")
	live, err := o.applier.Get(ctx, gvk, "", ns)
	if err != nil || live != nil {
		return err
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	obj.SetName(ns)
	if _, err := o.applier.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(unwrapAPI(err)) {
		return fmt.Errorf("create the destination namespace (CreateNamespace=true): %w", err)
	}
	return nil
}

// finish records a successful operation.
func (o *operation) finish() {
	st := &o.run.gs.Status
	now := metav1.NewTime(o.run.now)
	op := st.OperationState
	op.Phase, op.FinishedAt = v1alpha1.OperationSucceeded, &now
	op.Message = fmt.Sprintf("successfully synced %d objects at %s", len(o.ds.plan.Objects), short(o.revision))
	st.LastAppliedRevision = o.revision
	o.recordInventory(true)
	o.history(v1alpha1.OperationSucceeded)
	o.observeDuration(v1alpha1.OperationSucceeded)
	o.run.log.Info("Sync succeeded", "revision", o.revision, "objects", len(o.ds.plan.Objects))
	o.run.event(corev1.EventTypeNormal, "SyncSucceeded", "Sync", "Synced %d objects at %s", len(o.ds.plan.Objects), short(o.revision))
}

// fail ends the operation: later phases do not run, the SyncFail hooks do.
func (o *operation) fail(ctx context.Context, reason string, err error) {
	st := &o.run.gs.Status
	now := metav1.NewTime(o.run.now)
	op := st.OperationState
	op.Phase, op.FinishedAt, op.Message = v1alpha1.OperationFailed, &now, err.Error()
	o.failedReason = reason
	for _, t := range o.ds.plan.SyncFail {
		if _, herr := o.hook(ctx, t); herr != nil {
			o.run.log.Error(herr, "SyncFail hook", "hook", apply.Describe(t.ID))
		}
	}
	o.recordInventory(false)
	o.history(v1alpha1.OperationFailed)
	o.observeDuration(v1alpha1.OperationFailed)
	o.run.setCondition(v1alpha1.ConditionSynced, false, reason, err.Error())
	o.run.log.Info("Sync failed", "revision", o.revision, "reason", reason, "error", err.Error())
	o.run.event(corev1.EventTypeWarning, "SyncFailed", "Sync", "Sync of %s failed: %s", short(o.revision), err.Error())
}

// observeDuration records how long the operation took, from its start to now.
func (o *operation) observeDuration(result string) {
	if op := o.state(); op.StartedAt != nil {
		o.run.r.metrics.synced(o.run.key(), result, o.run.r.now().Sub(op.StartedAt.Time))
	}
}

// recordInventory writes the inventory: after a success the desired objects plus the stale ones
// that were not pruned; after a failure the old inventory plus whatever was applied, so nothing
// this GitSync created is ever forgotten.
func (o *operation) recordInventory(success bool) {
	st := &o.run.gs.Status
	old, _ := inventory.FromStatus(st.Inventory)
	pruned := map[string]bool{}
	applied := map[string]bool{}
	for _, r := range st.OperationState.Resources {
		switch r.Result {
		case v1alpha1.ResultPruned:
			pruned[r.ID] = true
		case v1alpha1.ResultSynced:
			applied[r.ID] = true
		}
	}
	var next []inventory.Entry
	if success {
		next = inventoryOf(o.ds.plan)
		for _, e := range o.ds.stale {
			if !pruned[e.ID.String()] {
				next = append(next, e)
			}
		}
	} else {
		for _, e := range old {
			if !pruned[e.ID.String()] {
				next = append(next, e)
			}
		}
		for _, e := range inventoryOf(o.ds.plan) {
			if applied[e.ID.String()] {
				next = append(next, e)
			}
		}
	}
	st.Inventory = inventory.ToStatus(inventory.Union(nil, next))
}

func (o *operation) history(result string) {
	st := &o.run.gs.Status
	entry := v1alpha1.HistoryEntry{Revision: o.revision, DeployedAt: metav1.NewTime(o.run.now), Result: result}
	st.History = append([]v1alpha1.HistoryEntry{entry}, st.History...)
	if len(st.History) > 10 {
		st.History = st.History[:10]
	}
}

// record sets the result of one object in this operation.
func (o *operation) record(t apply.Task, result, message string) {
	o.recordID(t, taskKey(t), result, message, "")
}

// recordOnce sets a result only when the object has none yet in this operation.
func (o *operation) recordOnce(t apply.Task, result, message string) {
	if o.result(t) == nil {
		o.record(t, result, message)
	}
}

func (o *operation) recordID(t apply.Task, id, result, message, liveName string) {
	op := o.state()
	for i := range op.Resources {
		if r := &op.Resources[i]; r.ID == id && r.Phase == t.Phase {
			r.Result, r.Message, r.Wave = result, message, t.Wave
			if liveName != "" {
				r.LiveName = liveName
			}
			return
		}
	}
	op.Resources = append(op.Resources, v1alpha1.ResourceResult{ID: id, Phase: t.Phase, Wave: t.Wave, Result: result, Message: message, LiveName: liveName})
}

func (o *operation) result(t apply.Task) *v1alpha1.ResourceResult {
	op := o.state()
	id := taskKey(t)
	for i := range op.Resources {
		if r := &op.Resources[i]; r.ID == id && r.Phase == t.Phase {
			return r
		}
	}
	return nil
}

// taskKey is the id results are recorded under: a hook made with generateName is named by its
// prefix and a star.
func taskKey(t apply.Task) string {
	if t.ID.Name == "" {
		id := t.ID
		id.Name = t.Obj.GetGenerateName() + "*"
		return id.String()
	}
	return t.ID.String()
}

func waveOf(o *unstructured.Unstructured) int {
	w, _ := strconv.Atoi(o.GetAnnotations()[v1alpha1.AnnotationSyncWave])
	return w
}

// unwrapAPI finds the API status error inside a wrapped error.
func unwrapAPI(err error) error {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return se.(error)
	}
	return err
}
