package rollout

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/analysis"
	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout/plan"
)

// NewRunBuilder builds a Rollout's AnalysisRuns from its templates (read through c), with the
// arguments resolved against the Rollout and its stable and latest pod-template hashes.
func NewRunBuilder(c client.Reader) RunBuilder {
	return func(ctx context.Context, ro *v1alpha1.Rollout, req plan.RunRequest) (*v1alpha1.AnalysisRun, error) {
		templates, err := analysis.GetTemplates(ctx, c, ro.Namespace, req.Analysis.Templates)
		if err != nil {
			return nil, err
		}
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ro)
		if err != nil {
			return nil, fmt.Errorf("read rollout fields for arguments: %w", err)
		}
		spec, err := analysis.BuildRolloutRunSpec(templates, *req.Analysis, obj,
			analysis.PodTemplateHashes{Stable: ro.Status.StableRS, Latest: req.PodHash})
		if err != nil {
			return nil, err
		}
		labels := map[string]string{
			v1alpha1.PodTemplateHashLabelKey: req.PodHash,
			v1alpha1.RolloutTypeLabel:        req.Type,
		}
		if req.StepIndex != nil {
			labels[v1alpha1.RolloutCanaryStepIndexLabel] = fmt.Sprint(*req.StepIndex)
		}
		for k, v := range req.Analysis.AnalysisRunMetadata.Labels {
			labels[k] = v
		}
		return &v1alpha1.AnalysisRun{
			ObjectMeta: metav1.ObjectMeta{
				Namespace:       ro.Namespace,
				Name:            req.Name,
				Labels:          labels,
				Annotations:     req.Analysis.AnalysisRunMetadata.Annotations,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind(v1alpha1.RolloutKind))},
			},
			Spec: spec,
		}, nil
	}
}

// structural is an analysis with every argument taken from a field of the Rollout given a stand-in
// value: such a field may only appear later (status.stableRS, an annotation CI adds with the
// update) and is resolved when the run is created, as in Argo Rollouts. What is left to check is
// the structure: metrics, which arguments have values, conflicting values.
func structural(a *v1alpha1.RolloutAnalysis) v1alpha1.RolloutAnalysis {
	out := *a.DeepCopy()
	for i := range out.Args {
		if vf := out.Args[i].ValueFrom; vf != nil && vf.FieldRef != nil {
			out.Args[i].Value, out.Args[i].ValueFrom = "field-"+vf.FieldRef.FieldPath, nil
		}
	}
	return out
}

// validateAnalysis checks the analyses a Rollout names: every template must exist, and a step or
// promotion analysis must end (a metric with an interval and no count runs until terminated, which
// only background analysis may). Problems make the spec invalid; an error reading a template is
// returned, to be retried.
func (r *Reconciler) validateAnalysis(ctx context.Context, ro *v1alpha1.Rollout, obs *plan.Observed) error {
	type named struct {
		field    string
		analysis *v1alpha1.RolloutAnalysis
		endless  bool // may run until terminated
	}
	var all []named
	if c := ro.Spec.Strategy.Canary; c != nil {
		for i, s := range c.Steps {
			if s.Analysis != nil {
				all = append(all, named{fmt.Sprintf("spec.strategy.canary.steps[%d].analysis", i), s.Analysis, false})
			}
		}
		if c.Analysis != nil && len(c.Analysis.Templates) > 0 {
			all = append(all, named{"spec.strategy.canary.analysis", &c.Analysis.RolloutAnalysis, true})
		}
	}
	if b := ro.Spec.Strategy.BlueGreen; b != nil {
		if b.PrePromotionAnalysis != nil {
			all = append(all, named{"spec.strategy.blueGreen.prePromotionAnalysis", b.PrePromotionAnalysis, false})
		}
		if b.PostPromotionAnalysis != nil {
			all = append(all, named{"spec.strategy.blueGreen.postPromotionAnalysis", b.PostPromotionAnalysis, false})
		}
	}
	var rolloutObj map[string]any
	for _, a := range all {
		templates, err := analysis.GetTemplates(ctx, r.Client, ro.Namespace, a.analysis.Templates)
		var missing *analysis.TemplateNotFoundError
		if errors.As(err, &missing) {
			obs.SpecErrors = append(obs.SpecErrors, fmt.Sprintf("%s: %v", a.field, err))
			continue
		}
		if err != nil {
			// Not the spec's fault: try again rather than call the Rollout invalid.
			return fmt.Errorf("read the templates of %s: %w", a.field, err)
		}
		// A run that can never be built (a metric in two templates, an argument without a
		// value, conflicting values, a field that is not there) is the spec's problem: say so
		// now rather than leave the run unstarted and the update waiting for it.
		if rolloutObj == nil {
			if rolloutObj, err = runtime.DefaultUnstructuredConverter.ToUnstructured(ro); err != nil {
				return fmt.Errorf("read rollout fields for arguments: %w", err)
			}
		}
		if _, err := analysis.BuildRolloutRunSpec(templates, structural(a.analysis), rolloutObj,
			analysis.PodTemplateHashes{Stable: ro.Status.StableRS, Latest: ro.Status.CurrentPodHash}); err != nil {
			obs.SpecErrors = append(obs.SpecErrors, fmt.Sprintf("%s: the AnalysisRun cannot be built: %v", a.field, err))
			continue
		}
		if a.endless {
			continue
		}
		for _, t := range templates {
			for _, m := range t.Spec.Metrics {
				if _, unbounded, err := m.GetCount(); err == nil && unbounded {
					obs.SpecErrors = append(obs.SpecErrors, fmt.Sprintf(
						"%s: metric %q of %s has an interval and no count, so it would never end; only background analysis may run until terminated",
						a.field, m.Name, t.String()))
				}
			}
		}
	}
	return nil
}
