package rollout

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout/plan"
)

// observe gathers what the planner needs. It also adopts orphaned ReplicaSets that match the
// Rollout's selector (a ReplicaSet left by another controller, or by a deleted Rollout).
func (r *Reconciler) observe(ctx context.Context, ro *v1alpha1.Rollout, key types.NamespacedName) (plan.Observed, error) {
	obs := plan.Observed{PauseStarted: r.pauseStarts(key), Services: map[string]*corev1.Service{}}
	if err := r.resolveTemplate(ctx, ro, &obs); err != nil || obs.Template == nil {
		return obs, err
	}
	if ro.Spec.Selector == nil {
		return obs, nil // invalid: the planner reports it
	}
	rss, err := r.replicaSets(ctx, ro)
	if err != nil {
		return obs, err
	}
	obs.ReplicaSets = rss
	obs.PodHash = plan.PodTemplateHash(obs.Template, ro.Status.CollisionCount)
	if plan.NeedsDefaulting(ro, obs) {
		// The dry run that gives the API server's defaults may be refused for reasons that have
		// nothing to do with the Rollout (a webhook down, a quota on PodTemplates): an undo then
		// creates a new ReplicaSet instead of reusing the old one, rather than blocking the whole
		// reconcile (an abort included).
		if obs.DefaultedTemplate, err = r.defaultedTemplate(ctx, ro, obs.Template, obs.PodHash); err != nil {
			log.FromContext(ctx).Info("Could not default the pod template by dry run; comparing the template as written", "error", err.Error())
			obs.DefaultedTemplate, err = nil, nil
		}
	}
	obs.NewRS = plan.FindReplicaSet(ro, obs) // the planner re-stamps its template-hash annotation

	if obs.MissingServices, err = r.services(ctx, ro, obs.Services); err != nil {
		return obs, err
	}
	if err := r.validateAnalysis(ctx, ro, &obs); err != nil {
		return obs, err
	}
	if obs.Runs, obs.FinishedRuns, err = r.analysisRuns(ctx, ro, obs); err != nil {
		return obs, err
	}
	if obs.OldPods, err = r.oldPods(ctx, ro, rss); err != nil {
		return obs, err
	}
	return obs, nil
}

// resolveTemplate sets the pod template: spec.template, or the template of the Deployment a
// workloadRef names (whose selector then applies too, on this in-memory copy).
func (r *Reconciler) resolveTemplate(ctx context.Context, ro *v1alpha1.Rollout, obs *plan.Observed) error {
	ref := ro.Spec.WorkloadRef
	if ref == nil {
		obs.Template = ro.Spec.Template.DeepCopy()
		return nil
	}
	dep := &appsv1.Deployment{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: ref.Name}, dep)
	if apierrors.IsNotFound(err) {
		obs.TemplateError = fmt.Sprintf("spec.workloadRef: Deployment %s not found", ref.Name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get Deployment %s named by workloadRef: %w", ref.Name, err)
	}
	obs.Template = dep.Spec.Template.DeepCopy()
	obs.WorkloadGeneration = dep.Generation
	if ro.Spec.Selector == nil {
		ro.Spec.Selector = dep.Spec.Selector.DeepCopy()
	}
	return nil
}

// replicaSets lists the ReplicaSets the Rollout controls, adopting orphans its selector matches.
func (r *Reconciler) replicaSets(ctx context.Context, ro *v1alpha1.Rollout) ([]*appsv1.ReplicaSet, error) {
	selector, err := metav1.LabelSelectorAsSelector(ro.Spec.Selector)
	if err != nil {
		return nil, nil // invalid: the planner reports it
	}
	var owned, orphans appsv1.ReplicaSetList
	if err := r.Client.List(ctx, &owned, client.InNamespace(ro.Namespace), client.MatchingFields{ownerIndex: string(ro.UID)}); err != nil {
		return nil, fmt.Errorf("list ReplicaSets of rollout %s: %w", ro.Name, err)
	}
	if err := r.Client.List(ctx, &orphans, client.InNamespace(ro.Namespace), client.MatchingFields{ownerIndex: orphanKey}); err != nil {
		return nil, fmt.Errorf("list orphaned ReplicaSets: %w", err)
	}
	var out []*appsv1.ReplicaSet
	for i := range owned.Items {
		if owned.Items[i].DeletionTimestamp == nil {
			out = append(out, &owned.Items[i])
		}
	}
	for i := range orphans.Items {
		rs := &orphans.Items[i]
		if rs.DeletionTimestamp != nil || !selector.Matches(labels.Set(rs.Labels)) || rs.Labels[v1alpha1.PodTemplateHashLabelKey] == "" {
			continue
		}
		if err := r.adopt(ctx, ro, rs); err != nil {
			return nil, err
		}
		out = append(out, rs)
	}
	return out, nil
}

// adopt makes the Rollout the controller of an orphaned ReplicaSet. The pods keep running.
func (r *Reconciler) adopt(ctx context.Context, ro *v1alpha1.Rollout, rs *appsv1.ReplicaSet) error {
	patch := client.MergeFrom(rs.DeepCopy())
	rs.OwnerReferences = append(rs.OwnerReferences, *metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind(v1alpha1.RolloutKind)))
	if err := r.Client.Patch(ctx, rs, patch); err != nil {
		return fmt.Errorf("adopt ReplicaSet %s: %w", rs.Name, err)
	}
	r.Recorder.Eventf(ro, rs, corev1.EventTypeNormal, "ReplicaSetAdopted", "Adopt", "Adopted ReplicaSet %s", rs.Name)
	return nil
}

// defaulted is a Rollout's pod template of one hash as the API server defaults it.
type defaulted struct {
	hash     string
	template *corev1.PodTemplateSpec
}

// defaultedTemplate asks the API server to default a pod template (a dry-run create of a
// PodTemplate in the Rollout's namespace), so it compares equal to the template of a ReplicaSet
// created from it. One entry per Rollout is kept, for its current template, and dropped with it.
func (r *Reconciler) defaultedTemplate(ctx context.Context, ro *v1alpha1.Rollout, tmpl *corev1.PodTemplateSpec, hash string) (*corev1.PodTemplateSpec, error) {
	if v, ok := r.defaults.Load(ro.UID); ok && v.(defaulted).hash == hash {
		return v.(defaulted).template, nil
	}
	pt := &corev1.PodTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: "sluice-defaults-" + hash},
		Template:   *tmpl.DeepCopy(),
	}
	if err := r.Client.Create(ctx, pt, client.DryRunAll); err != nil {
		return nil, fmt.Errorf("default pod template through a dry-run create: %w", err)
	}
	r.defaults.Store(ro.UID, defaulted{hash: hash, template: &pt.Template})
	return &pt.Template, nil
}

// services reads the Services the strategy names into out, and returns the names of those that
// do not exist (the planner reports them as InvalidSpec).
func (r *Reconciler) services(ctx context.Context, ro *v1alpha1.Rollout, out map[string]*corev1.Service) ([]string, error) {
	var missing []string
	for _, name := range serviceNames(ro) {
		svc := &corev1.Service{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: name}, svc)
		if apierrors.IsNotFound(err) {
			missing = append(missing, name)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get Service %s: %w", name, err)
		}
		out[name] = svc
	}
	return missing, nil
}

// serviceNames lists the Services a Rollout's strategy names.
func serviceNames(ro *v1alpha1.Rollout) []string {
	var names []string
	if c := ro.Spec.Strategy.Canary; c != nil {
		names = append(names, c.CanaryService, c.StableService)
	}
	if b := ro.Spec.Strategy.BlueGreen; b != nil {
		names = append(names, b.ActiveService, b.PreviewService)
	}
	var out []string
	for _, n := range names {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// analysisRuns reads the Rollout's AnalysisRuns by name, and the finished runs of earlier
// templates (for the history limits).
func (r *Reconciler) analysisRuns(ctx context.Context, ro *v1alpha1.Rollout, obs plan.Observed) (map[string]*plan.RunInfo, []plan.FinishedRun, error) {
	hash := obs.PodHash
	if obs.NewRS != nil {
		hash = obs.NewRS.Labels[v1alpha1.PodTemplateHashLabelKey]
	}
	var list v1alpha1.AnalysisRunList
	if err := r.Client.List(ctx, &list, client.InNamespace(ro.Namespace), client.MatchingFields{ownerIndex: string(ro.UID)}); err != nil {
		return nil, nil, fmt.Errorf("list AnalysisRuns of rollout %s: %w", ro.Name, err)
	}
	runs := map[string]*plan.RunInfo{}
	var finished []plan.FinishedRun
	for i := range list.Items {
		run := &list.Items[i]
		if run.DeletionTimestamp != nil {
			continue
		}
		phase := run.Status.Phase
		if phase == "" {
			phase = v1alpha1.AnalysisPhasePending
		}
		runs[run.Name] = &plan.RunInfo{Name: run.Name, Phase: phase, Message: run.Status.Message, Terminating: run.Spec.Terminate}
		if run.Labels[v1alpha1.PodTemplateHashLabelKey] != hash && phase.Completed() {
			finished = append(finished, plan.FinishedRun{Name: run.Name, Created: run.CreationTimestamp.Time,
				Successful: phase == v1alpha1.AnalysisPhaseSuccessful})
		}
	}
	return runs, finished, nil
}

// oldPods lists, only while a restart is pending, the pods created before spec.restartAt, oldest
// first. It reads the API server directly: no pod cache is kept for this rare action.
func (r *Reconciler) oldPods(ctx context.Context, ro *v1alpha1.Rollout, rss []*appsv1.ReplicaSet) ([]*corev1.Pod, error) {
	at := ro.Spec.RestartAt
	if at == nil || (ro.Status.RestartedAt != nil && !ro.Status.RestartedAt.Before(at)) || at.After(r.now()) {
		return nil, nil
	}
	owned := map[types.UID]bool{}
	for _, rs := range rss {
		owned[rs.UID] = true
	}
	selector, err := metav1.LabelSelectorAsSelector(ro.Spec.Selector)
	if err != nil {
		return nil, nil // invalid: the planner reports it
	}
	var pods corev1.PodList
	if err := r.Reader().List(ctx, &pods, client.InNamespace(ro.Namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, fmt.Errorf("list pods to restart: %w", err)
	}
	var old []*corev1.Pod
	for i := range pods.Items {
		pod := &pods.Items[i]
		ref := metav1.GetControllerOf(pod)
		if ref == nil || !owned[ref.UID] || pod.DeletionTimestamp != nil || !pod.CreationTimestamp.Before(at) {
			continue
		}
		old = append(old, pod)
	}
	sort.Slice(old, func(i, j int) bool { return old[i].CreationTimestamp.Before(&old[j].CreationTimestamp) })
	return old, nil
}
