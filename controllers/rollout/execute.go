package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout/plan"
	"github.com/sluice-dev/sluice/trafficrouting"
)

// Reader returns the uncached reader for rare reads, or the client.
func (r *Reconciler) Reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// phase is one ordered part of carrying out a plan. Its intents are independent of each other, so
// a phase attempts all of them and fails when any failed; a failed phase ends the execution.
type phase struct {
	name string
	run  func(ctx context.Context) error
}

// phases lists a plan's intents in the order that keeps traffic and capacity safe:
//
//	create ReplicaSets → Service selectors → routes → scaling (down) → pod metadata → AnalysisRuns → deletes
//
// A Service selects the pods meant for it before a route sends it traffic (the canary Service the
// canary pods, the stable Service the promoted ones), and routes carry their weights before a
// ReplicaSet shrinks. An abort moves traffic first: back on stable before anything else, and
// nothing shrinks the canary until it is.
func (r *Reconciler) phases(key types.NamespacedName, ro *v1alpha1.Rollout, p plan.Plan, rts []trafficrouting.TrafficRouter) []phase {
	create := phase{plan.CreateReplicaSetsPhase, func(ctx context.Context) error { return r.createReplicaSets(ctx, key, ro, p.Create) }}
	selectors := phase{"switch Service selectors", func(ctx context.Context) error { return r.setSelectors(ctx, ro, p.Selectors) }}
	routes := phase{"route traffic", func(ctx context.Context) error {
		if err := r.applyRouting(ctx, ro, rts, p.Routing); err != nil {
			return err
		}
		if e, ok := plan.WeightEvent(p.Routing); ok {
			r.Recorder.Eventf(ro, nil, e.Type, e.Reason, "Route", "%s", e.Message)
		}
		return nil
	}}
	scale := phase{"scale ReplicaSets", func(ctx context.Context) error { return r.scale(ctx, key, ro, p) }}
	metadata := phase{"set pod metadata", func(ctx context.Context) error { return r.setPodMetadataAll(ctx, ro.Namespace, p.PodMetadata) }}
	runs := phase{"start and stop AnalysisRuns", func(ctx context.Context) error { return r.startStopRuns(ctx, ro, p) }}
	deletes := phase{"delete old objects", func(ctx context.Context) error { return r.deleteOld(ctx, ro, p) }}
	if p.Status.Abort {
		routes.run = func(ctx context.Context) error {
			if err := r.applyRouting(ctx, ro, r.abortRouters(ro, rts), p.Routing); err != nil {
				return err
			}
			if e, ok := plan.WeightEvent(p.Routing); ok {
				r.Recorder.Eventf(ro, nil, e.Type, e.Reason, "Route", "%s", e.Message)
			}
			return nil
		}
		return []phase{routes, create, selectors, scale, metadata, runs, deletes}
	}
	return []phase{create, selectors, routes, scale, metadata, runs, deletes}
}

// execute carries out a plan whose status is already recorded, phase by phase, and stops at the
// first phase that fails: what comes after it is not safe without it. Every intent is idempotent,
// so a failed execution is simply planned and carried out again.
func (r *Reconciler) execute(ctx context.Context, key types.NamespacedName, ro *v1alpha1.Rollout, p plan.Plan, rts []trafficrouting.TrafficRouter) error {
	for _, ph := range r.phases(key, ro, p, rts) {
		if err := ph.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", ph.name, err)
		}
	}
	if len(p.Create)+len(p.Scale)+len(p.Selectors)+len(p.Delete) > 0 {
		log.FromContext(ctx).V(1).Info("Executed plan", "create", len(p.Create), "scale", len(p.Scale),
			"selectors", len(p.Selectors), "delete", len(p.Delete), "runs", len(p.CreateRuns))
	}
	return nil
}

func (r *Reconciler) createReplicaSets(ctx context.Context, key types.NamespacedName, ro *v1alpha1.Rollout, sets []*appsv1.ReplicaSet) error {
	var errs []error
	for _, rs := range sets {
		if created, err := r.createReplicaSet(ctx, ro, rs); err != nil {
			errs = append(errs, err)
		} else if created {
			r.expect.wroteReplicaSet(key, rs.Name, rs.ResourceVersion)
			for _, e := range plan.CreatedEvents(rs) {
				r.Recorder.Eventf(ro, nil, e.Type, e.Reason, "Create", "%s", e.Message)
			}
		}
	}
	return errors.Join(errs...)
}

// setSelectors switches Service selectors, and tells each switch once the Service holds it.
func (r *Reconciler) setSelectors(ctx context.Context, ro *v1alpha1.Rollout, sels []plan.SetSelector) error {
	var errs []error
	for _, sel := range sels {
		if err := r.setSelector(ctx, ro, sel); err != nil {
			errs = append(errs, err)
			continue
		}
		if e, ok := plan.SelectorEvent(sel); ok {
			r.Recorder.Eventf(ro, nil, e.Type, e.Reason, "SwitchService", "%s", e.Message)
		}
	}
	return errors.Join(errs...)
}

// scale resizes the ReplicaSets, and the Deployment a workloadRef names.
func (r *Reconciler) scale(ctx context.Context, key types.NamespacedName, ro *v1alpha1.Rollout, p plan.Plan) error {
	var errs []error
	for _, sc := range p.Scale {
		if rv, err := r.scaleReplicaSet(ctx, ro.Namespace, sc); err != nil {
			errs = append(errs, err)
		} else {
			r.expect.wroteReplicaSet(key, sc.Name, rv)
			if e, ok := plan.ScaleEvent(sc); ok {
				r.Recorder.Eventf(ro, nil, e.Type, e.Reason, "Scale", "%s", e.Message)
			}
		}
	}
	if err := r.scaleDownWorkload(ctx, ro, p.Status); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (r *Reconciler) setPodMetadataAll(ctx context.Context, namespace string, mds []plan.PodMetadata) error {
	var errs []error
	for _, md := range mds {
		if err := r.setPodMetadata(ctx, namespace, md); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Reconciler) startStopRuns(ctx context.Context, ro *v1alpha1.Rollout, p plan.Plan) error {
	var errs []error
	for _, req := range p.CreateRuns {
		if err := r.createRun(ctx, ro, req); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range p.TerminateRuns {
		run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: name}}
		if err := r.Client.Patch(ctx, run, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"terminate":true}}`))); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("terminate AnalysisRun %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// deleteOld removes AnalysisRuns and ReplicaSets beyond the history limits, and the pods a
// restart replaces (each told by an event once deleted).
func (r *Reconciler) deleteOld(ctx context.Context, ro *v1alpha1.Rollout, p plan.Plan) error {
	var errs []error
	for _, name := range p.DeleteRuns {
		run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: name}}
		if err := r.Client.Delete(ctx, run); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("delete old AnalysisRun %s: %w", name, err))
		}
	}
	for _, name := range p.Delete {
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: name}}
		if err := r.Client.Delete(ctx, rs); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("delete old ReplicaSet %s: %w", name, err))
		}
	}
	for _, name := range p.DeletePods {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: name}}
		switch err := r.Client.Delete(ctx, pod); {
		case err == nil:
			e := plan.RestartEvent(name)
			r.Recorder.Eventf(ro, nil, e.Type, e.Reason, "Restart", "%s", e.Message)
		case !apierrors.IsNotFound(err):
			errs = append(errs, fmt.Errorf("delete pod %s to restart it: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// createReplicaSet creates a planned ReplicaSet. One that already exists is fine when it is ours
// (the cache had not seen it yet); a foreign one with the same name is a hash collision, which
// the collision count in the status resolves.
func (r *Reconciler) createReplicaSet(ctx context.Context, ro *v1alpha1.Rollout, rs *appsv1.ReplicaSet) (created bool, err error) {
	err = r.Client.Create(ctx, rs)
	if err == nil || !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return false, plan.CreateReplicaSetError(rs.Name, err)
		}
		return true, nil
	}
	existing := &appsv1.ReplicaSet{}
	if err := r.Reader().Get(ctx, client.ObjectKeyFromObject(rs), existing); err != nil {
		return false, fmt.Errorf("read existing ReplicaSet %s: %w", rs.Name, err)
	}
	if ref := metav1.GetControllerOf(existing); ref != nil && ref.UID == ro.UID &&
		existing.Annotations[plan.TemplateHashAnnotation] == rs.Annotations[plan.TemplateHashAnnotation] {
		return false, nil // ours already: created by an earlier reconcile the cache had not shown
	}
	count := ptr.Deref(ro.Status.CollisionCount, 0) + 1
	patch := fmt.Appendf(nil, `{"status":{"collisionCount":%d}}`, count)
	if err := r.Client.Status().Patch(ctx, ro.DeepCopy(), client.RawPatch(types.MergePatchType, patch)); err != nil {
		return false, fmt.Errorf("record hash collision on ReplicaSet %s: %w", rs.Name, err)
	}
	return false, fmt.Errorf("ReplicaSet %s exists with another template: collision count raised to %d", rs.Name, count)
}

// scaleReplicaSet patches a ReplicaSet's replicas and annotations.
func (r *Reconciler) scaleReplicaSet(ctx context.Context, namespace string, sc plan.ScaleReplicaSet) (string, error) {
	patch := map[string]any{"spec": map[string]any{"replicas": sc.Replicas}}
	if len(sc.Annotations) > 0 {
		patch["metadata"] = map[string]any{"annotations": sc.Annotations}
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return "", fmt.Errorf("encode patch of ReplicaSet %s: %w", sc.Name, err)
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: sc.Name}}
	if err := r.Client.Patch(ctx, rs, client.RawPatch(types.MergePatchType, data)); err != nil {
		return "", fmt.Errorf("scale ReplicaSet %s to %d: %w", sc.Name, sc.Replicas, err)
	}
	return rs.ResourceVersion, nil
}

// setSelector points a Service at one ReplicaSet's pods and marks it as managed by the Rollout.
func (r *Reconciler) setSelector(ctx context.Context, ro *v1alpha1.Rollout, sel plan.SetSelector) error {
	patch := map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{v1alpha1.ManagedByRolloutsAnnotationKey: ro.Name}},
		"spec":     map[string]any{"selector": map[string]string{v1alpha1.PodTemplateHashLabelKey: sel.Hash}},
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("encode patch of Service %s: %w", sel.Service, err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: sel.Service}}
	if err := r.Client.Patch(ctx, svc, client.RawPatch(types.MergePatchType, data)); err != nil {
		return fmt.Errorf("point Service %s at ReplicaSet hash %s: %w", sel.Service, sel.Hash, err)
	}
	return nil
}

// createRun creates a planned AnalysisRun; one that exists already is fine.
func (r *Reconciler) createRun(ctx context.Context, ro *v1alpha1.Rollout, req plan.RunRequest) error {
	if r.Runs == nil {
		return nil
	}
	run, err := r.Runs(ctx, ro, req)
	if err != nil {
		return fmt.Errorf("build AnalysisRun %s: %w", req.Name, err)
	}
	if err := r.Client.Create(ctx, run); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create AnalysisRun %s: %w", req.Name, err)
	}
	return nil
}

// scaleDownWorkload scales the Deployment a workloadRef names, as its scaleDown mode says:
// onsuccess once the Rollout is healthy, progressively as the Rollout's pods become available.
func (r *Reconciler) scaleDownWorkload(ctx context.Context, ro *v1alpha1.Rollout, status v1alpha1.RolloutStatus) error {
	ref := ro.Spec.WorkloadRef
	if ref == nil || ref.ScaleDown == "" || ref.ScaleDown == v1alpha1.ScaleDownNever {
		return nil
	}
	dep := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: ref.Name}, dep); err != nil {
		return client.IgnoreNotFound(err)
	}
	current := ptr.Deref(dep.Spec.Replicas, 1)
	want := current
	switch ref.ScaleDown {
	case v1alpha1.ScaleDownOnSuccess:
		if status.Phase == v1alpha1.RolloutPhaseHealthy {
			want = 0
		}
	case v1alpha1.ScaleDownProgressively:
		want = max(ro.Spec.GetReplicas()-status.AvailableReplicas, 0)
		want = min(want, current)
	}
	if want == current {
		return nil
	}
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, want)
	if err := r.Client.Patch(ctx, dep, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("scale Deployment %s named by workloadRef to %d: %w", ref.Name, want, err)
	}
	return nil
}

// setPodMetadata changes a ReplicaSet's ephemeral pod labels and annotations in place: on its
// running pods first, then in its template together with the record of what was injected
// (plan.EphemeralMetadataAnnotation). A pod patch that fails leaves the template as it was, so the
// next plan asks for the change again instead of leaving pods with the wrong metadata for good.
// Pods the ReplicaSet created from its old template meanwhile are changed after the template.
func (r *Reconciler) setPodMetadata(ctx context.Context, namespace string, md plan.PodMetadata) error {
	rs := &appsv1.ReplicaSet{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: md.ReplicaSet}, rs); err != nil {
		return fmt.Errorf("read ReplicaSet %s to set its pod metadata: %w", md.ReplicaSet, err)
	}
	meta := map[string]any{}
	if len(md.Labels) > 0 {
		meta["labels"] = md.Labels
	}
	if len(md.Annotations) > 0 {
		meta["annotations"] = md.Annotations
	}
	if md.Relabels() {
		if err := r.setPodsMetadata(ctx, rs, md, meta); err != nil {
			return err
		}
	}
	patch := map[string]any{"metadata": map[string]any{"annotations": map[string]*string{plan.EphemeralMetadataAnnotation: md.Injected}}}
	if md.Relabels() {
		patch["spec"] = map[string]any{"template": map[string]any{"metadata": meta}}
	}
	rsPatch, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("encode metadata patch of ReplicaSet %s: %w", md.ReplicaSet, err)
	}
	if err := r.Client.Patch(ctx, rs, client.RawPatch(types.MergePatchType, rsPatch)); err != nil {
		return fmt.Errorf("set pod metadata in the template of ReplicaSet %s: %w", md.ReplicaSet, err)
	}
	if md.Relabels() {
		// A pod created from the old template between the listing and the template patch.
		return r.setPodsMetadata(ctx, rs, md, meta)
	}
	return nil
}

// setPodsMetadata patches the pods of rs that do not carry md yet. Pods are listed from the API
// server (no pod cache is kept) with the ReplicaSet's whole selector, and only those it controls
// are changed.
func (r *Reconciler) setPodsMetadata(ctx context.Context, rs *appsv1.ReplicaSet, md plan.PodMetadata, meta map[string]any) error {
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		return fmt.Errorf("read the selector of ReplicaSet %s: %w", rs.Name, err)
	}
	var pods corev1.PodList
	if err := r.Reader().List(ctx, &pods, client.InNamespace(rs.Namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return fmt.Errorf("list pods of ReplicaSet %s: %w", rs.Name, err)
	}
	podPatch, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return fmt.Errorf("encode pod metadata patch: %w", err)
	}
	var errs []error
	for i := range pods.Items {
		pod := &pods.Items[i]
		if ref := metav1.GetControllerOf(pod); ref == nil || ref.UID != rs.UID || pod.DeletionTimestamp != nil {
			continue
		}
		if carries(pod.Labels, md.Labels) && carries(pod.Annotations, md.Annotations) {
			continue
		}
		if err := r.Client.Patch(ctx, pod, client.RawPatch(types.MergePatchType, podPatch)); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("set metadata of pod %s: %w", pod.Name, err))
		}
	}
	return errors.Join(errs...)
}

// carries reports whether have already holds every change (a nil value: the key is absent).
func carries(have map[string]string, changes map[string]*string) bool {
	for k, v := range changes {
		cur, ok := have[k]
		if (v == nil && ok) || (v != nil && (!ok || cur != *v)) {
			return false
		}
	}
	return true
}
