package gitsync

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/apply"
	"github.com/sluice-dev/sluice/sync/health"
	"github.com/sluice-dev/sluice/sync/inventory"
)

// hook runs one hook of this operation: created once (after deleting the previous one under
// BeforeHookCreation), then followed until it succeeds or fails. It reports whether the hook
// finished; a failed hook is an error.
func (o *operation) hook(ctx context.Context, t apply.Task) (bool, error) {
	gvk := t.Obj.GroupVersionKind()
	if r := o.result(t); r != nil {
		switch r.Result {
		case v1alpha1.ResultHookSucceeded:
			return true, nil
		case v1alpha1.ResultHookFailed:
			return false, fmt.Errorf("%s hook %s failed: %s", t.Phase, apply.Describe(hookID(t, r.LiveName)), r.Message)
		case v1alpha1.ResultHookRunning:
			return o.followHook(ctx, t, r.LiveName)
		}
	}
	if t.ID.Name != "" && t.HasDeletePolicy(v1alpha1.HookDeleteBeforeHookCreated) {
		old, err := o.applier.Get(ctx, gvk, t.ID.Namespace, t.ID.Name)
		if err != nil {
			return false, err
		}
		if old != nil {
			if owner := o.run.key(); !ownedBy(old, owner) {
				err := fmt.Errorf("%s hook %s already exists and was not made by this GitSync; not deleting it", t.Phase, apply.Describe(t.ID))
				o.recordID(t, taskKey(t), v1alpha1.ResultHookFailed, err.Error(), "")
				return false, err
			}
			if old.GetDeletionTimestamp() == nil {
				if err := o.applier.Delete(ctx, gvk, t.ID.Namespace, t.ID.Name, old.GetUID()); err != nil {
					return false, fmt.Errorf("delete the previous %s hook (BeforeHookCreation): %w", t.Phase, err)
				}
			}
			if gone, err := o.awaitGone(ctx, t); err != nil || !gone {
				return false, err
			}
		}
	}
	created, err := o.applier.Create(ctx, t.Obj)
	if err != nil {
		if apierrors.IsAlreadyExists(unwrapAPI(err)) {
			err = fmt.Errorf("%w; give the hook the %s=%s annotation or a generateName", err, v1alpha1.AnnotationHookDeletePolicy, v1alpha1.HookDeleteBeforeHookCreated)
		}
		o.recordID(t, taskKey(t), v1alpha1.ResultHookFailed, err.Error(), "")
		return false, err
	}
	o.recordID(t, taskKey(t), v1alpha1.ResultHookRunning, "created", created.GetName())
	o.run.log.Info("Created hook", "phase", t.Phase, "hook", apply.Describe(hookID(t, created.GetName())))
	return false, nil
}

// awaitGone waits up to 10s for a deleted hook to disappear.
func (o *operation) awaitGone(ctx context.Context, t apply.Task) (bool, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		live, err := o.applier.Get(ctx, t.Obj.GroupVersionKind(), t.ID.Namespace, t.ID.Name)
		if err != nil || live == nil {
			return live == nil, err
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return false, nil
}

// followHook looks at a running hook: Healthy is success, Degraded is failure.
func (o *operation) followHook(ctx context.Context, t apply.Task, name string) (bool, error) {
	gvk := t.Obj.GroupVersionKind()
	id := hookID(t, name)
	live, err := o.applier.Get(ctx, gvk, t.ID.Namespace, name)
	if err != nil {
		return false, err
	}
	if live == nil {
		msg := "deleted before it finished"
		o.recordID(t, taskKey(t), v1alpha1.ResultHookFailed, msg, name)
		return false, fmt.Errorf("%s hook %s was %s", t.Phase, apply.Describe(id), msg)
	}
	h := health.Assess(live)
	switch h.Status {
	case v1alpha1.HealthHealthy:
		o.recordID(t, taskKey(t), v1alpha1.ResultHookSucceeded, "completed", name)
		if t.HasDeletePolicy(v1alpha1.HookDeleteHookSucceeded) {
			if err := o.applier.Delete(ctx, gvk, t.ID.Namespace, name, live.GetUID()); err != nil {
				o.run.log.Error(err, "Delete a hook that succeeded (HookSucceeded)", "hook", apply.Describe(id))
			}
		}
		return true, nil
	case v1alpha1.HealthDegraded:
		o.recordID(t, taskKey(t), v1alpha1.ResultHookFailed, h.Message, name)
		if t.HasDeletePolicy(v1alpha1.HookDeleteHookFailed) {
			if err := o.applier.Delete(ctx, gvk, t.ID.Namespace, name, live.GetUID()); err != nil {
				o.run.log.Error(err, "Delete a hook that failed (HookFailed)", "hook", apply.Describe(id))
			}
		}
		return false, fmt.Errorf("%s hook %s failed: %s", t.Phase, apply.Describe(id), h.Message)
	}
	return false, nil
}

// followSyncFail looks again at the SyncFail hooks a failed operation created: a hook that has
// finished gets its result (HookSucceeded or HookFailed) and its delete policy, as the hooks of
// the other phases do. The operation stays Failed with the reason it failed for. It reports
// whether a SyncFail hook is still running, so that the caller looks again soon.
func (o *operation) followSyncFail(ctx context.Context) (running bool) {
	for _, t := range o.ds.plan.SyncFail {
		r := o.result(t)
		if r == nil || r.Result != v1alpha1.ResultHookRunning {
			continue
		}
		if _, err := o.followHook(ctx, t, r.LiveName); err != nil {
			o.run.log.Error(err, "SyncFail hook", "hook", apply.Describe(hookID(t, r.LiveName)))
		}
		if r := o.result(t); r != nil && r.Result == v1alpha1.ResultHookRunning {
			running = true
		}
	}
	return running
}

func hookID(t apply.Task, name string) inventory.ID {
	id := t.ID
	if name != "" {
		id.Name = name
	}
	return id
}

// prune deletes the stale objects (in the inventory, gone from Git, still labelled as ours) when
// automated.prune is on: in reverse wave order, the PruneLast ones only once every other object is
// healthy. Prune=false protects an object. It reports whether pruning is done.
func (o *operation) prune(ctx context.Context) (bool, error) {
	auto := o.run.gs.Spec.Automated()
	if len(o.ds.stale) == 0 {
		return true, nil
	}
	stale := slices.Clone(o.ds.stale)
	slices.SortStableFunc(stale, func(a, b inventory.Entry) int {
		return waveOf(o.ds.live[b.ID]) - waveOf(o.ds.live[a.ID])
	})
	pruneLastAll := o.run.gs.Spec.HasSyncOption("PruneLast")
	var last []inventory.Entry
	for _, e := range stale {
		live := o.ds.live[e.ID]
		t := apply.Task{ID: e.ID, Phase: apply.PhaseSync, Wave: waveOf(live)}
		switch {
		case auto == nil || !auto.Prune:
			o.record(t, v1alpha1.ResultPruneSkipped, "left Git; automated prune is off")
		case apply.ObjectOption(live, "Prune", "false"):
			o.record(t, v1alpha1.ResultPruneSkipped, "left Git; kept by Prune=false")
		case pruneLastAll || apply.ObjectOption(live, "PruneLast", "true"):
			last = append(last, e)
		default:
			if err := o.pruneOne(ctx, t, e); err != nil {
				return false, err
			}
		}
	}
	if len(last) == 0 {
		return true, nil
	}
	for _, t := range o.ds.plan.Objects {
		if s := health.Assess(o.ds.live[t.ID]).Status; s != v1alpha1.HealthHealthy && s != v1alpha1.HealthSuspended {
			o.state().Message = fmt.Sprintf("waiting for %s to be healthy before pruning last", apply.Describe(t.ID))
			return false, nil
		}
	}
	for _, e := range last {
		if err := o.pruneOne(ctx, apply.Task{ID: e.ID, Phase: apply.PhaseSync, Wave: waveOf(o.ds.live[e.ID])}, e); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (o *operation) pruneOne(ctx context.Context, t apply.Task, e inventory.Entry) error {
	live := o.ds.live[e.ID]
	if err := o.applier.Delete(ctx, e.GroupVersionKind(), e.ID.Namespace, e.ID.Name, live.GetUID()); err != nil {
		o.record(t, v1alpha1.ResultSyncFailed, err.Error())
		return fmt.Errorf("prune %s: %w", apply.Describe(e.ID), err)
	}
	o.record(t, v1alpha1.ResultPruned, "left Git")
	delete(o.ds.live, e.ID)
	o.ds.stale = slices.DeleteFunc(o.ds.stale, func(s inventory.Entry) bool { return s.ID == e.ID })
	o.run.log.Info("Pruned", "object", apply.Describe(e.ID))
	return nil
}
