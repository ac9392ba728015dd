package lint

import (
	"context"
	"encoding/json"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout"
)

// templateSet holds the analysis templates found among the checked files, keyed by namespace
// ("" when the manifest names none: it lands in whichever namespace it is applied to) and name.
type templateSet struct {
	namespaced map[[2]string]v1alpha1.AnalysisTemplate
	cluster    map[string]v1alpha1.ClusterAnalysisTemplate
}

func newTemplateSet() *templateSet {
	return &templateSet{namespaced: map[[2]string]v1alpha1.AnalysisTemplate{}, cluster: map[string]v1alpha1.ClusterAnalysisTemplate{}}
}

func (s *templateSet) add(o object) {
	switch {
	case o.is(v1alpha1.GroupVersion, v1alpha1.AnalysisTemplateKind):
		var t v1alpha1.AnalysisTemplate
		if json.Unmarshal(o.raw, &t) == nil {
			s.namespaced[[2]string{t.Namespace, t.Name}] = t
		}
	case o.is(v1alpha1.GroupVersion, v1alpha1.ClusterAnalysisTemplateKind):
		var t v1alpha1.ClusterAnalysisTemplate
		if json.Unmarshal(o.raw, &t) == nil {
			s.cluster[t.Name] = t
		}
	}
}

// lookup finds the template a rollout in namespace ns refers to.
func (s *templateSet) lookup(ns string, ref v1alpha1.AnalysisTemplateRef) (client.Object, bool) {
	if ref.ClusterScope {
		t, ok := s.cluster[ref.TemplateName]
		return &t, ok
	}
	for _, key := range [][2]string{{ns, ref.TemplateName}, {"", ref.TemplateName}} {
		if t, ok := s.namespaced[key]; ok {
			t.Namespace = ns
			return &t, true
		}
	}
	if ns == "" {
		// A rollout without a namespace goes with templates of any namespace in the files.
		for key, t := range s.namespaced {
			if key[1] == ref.TemplateName {
				t.Namespace = ""
				return &t, true
			}
		}
	}
	return nil, false
}

// checkRollout runs the rollout controller's analysis checks (rollout.ValidateAnalysis) against
// the templates in the files, when every template the rollout names is among them; otherwise
// the templates live in the cluster and cannot be checked offline.
func (s *templateSet) checkRollout(ro *v1alpha1.Rollout) []fieldProblem {
	refs := analysisRefs(ro)
	if len(refs) == 0 {
		return nil
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return []fieldProblem{{msg: "build the scheme: " + err.Error()}}
	}
	builder := fake.NewClientBuilder().WithScheme(scheme)
	added := map[v1alpha1.AnalysisTemplateRef]bool{}
	for _, ref := range refs {
		t, ok := s.lookup(ro.Namespace, ref)
		if !ok {
			return nil
		}
		if key := (v1alpha1.AnalysisTemplateRef{TemplateName: ref.TemplateName, ClusterScope: ref.ClusterScope}); !added[key] {
			added[key] = true
			builder = builder.WithObjects(t)
		}
	}
	msgs, err := rollout.ValidateAnalysis(context.Background(), builder.Build(), ro)
	if err != nil {
		return []fieldProblem{{msg: err.Error()}}
	}
	var out []fieldProblem
	for _, m := range msgs {
		out = append(out, split(m, ""))
	}
	return out
}

// analysisRefs are the templates of every analysis a rollout names.
func analysisRefs(ro *v1alpha1.Rollout) []v1alpha1.AnalysisTemplateRef {
	var out []v1alpha1.AnalysisTemplateRef
	if c := ro.Spec.Strategy.Canary; c != nil {
		for _, s := range c.Steps {
			if s.Analysis != nil {
				out = append(out, s.Analysis.Templates...)
			}
		}
		if c.Analysis != nil {
			out = append(out, c.Analysis.Templates...)
		}
	}
	if b := ro.Spec.Strategy.BlueGreen; b != nil {
		for _, a := range []*v1alpha1.RolloutAnalysis{b.PrePromotionAnalysis, b.PostPromotionAnalysis} {
			if a != nil {
				out = append(out, a.Templates...)
			}
		}
	}
	return out
}
