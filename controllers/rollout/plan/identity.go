package plan

import (
	"encoding/json"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// ReplicaSet identity: which existing ReplicaSet runs the Rollout's pod template.
//
// The hash in a ReplicaSet's template-hash annotation finds it directly. When no annotation
// matches — the hash function's input changed (a k8s.io/api upgrade that encodes a template
// differently), an undo copied the API server's defaulted template of an old ReplicaSet into the
// Rollout, or another controller created the ReplicaSet — the templates are compared:
//
//  1. Pre-check, free of I/O: every field set in the Rollout's template has the same value in the
//     ReplicaSet's (the API server's defaulting only adds fields). A routine update fails it (a
//     new image), so it costs nothing.
//  2. For a ReplicaSet that passes, the Rollout's template as the API server defaults it (the
//     reconciler asks with a dry-run create of a PodTemplate: the very defaults the API server
//     applies to every PodTemplateSpec) must equal the ReplicaSet's template, ignoring the
//     rollouts-pod-template-hash label, the ephemeral role metadata keys and the anti-affinity
//     term sluice adds. A field removed from the Rollout's template therefore does not match the
//     old ReplicaSet that still has it.
//
// The newest such ReplicaSet is reused, and its annotation is re-stamped with the new hash.

// NeedsDefaulting reports whether finding the ReplicaSet of obs.Template takes the API server's
// defaulting of it (Observed.DefaultedTemplate): no ReplicaSet carries its hash, and some
// ReplicaSet passes the pre-check.
func NeedsDefaulting(ro *v1alpha1.Rollout, obs Observed) bool {
	if obs.Template == nil || byAnnotation(obs.PodHash, obs.ReplicaSets) != nil {
		return false
	}
	want, err := toValue(forComparison(ro, obs.Template))
	if err != nil {
		return false
	}
	for _, rs := range obs.ReplicaSets {
		if have, err := toValue(forComparison(ro, &rs.Spec.Template)); err == nil && subset(want, have) {
			return true
		}
	}
	return false
}

// FindReplicaSet returns the ReplicaSet that runs obs.Template, or nil: by the template-hash
// annotation, or else the newest ReplicaSet whose template equals obs.DefaultedTemplate (or, when
// the reconciler did not need to default it, obs.Template).
func FindReplicaSet(ro *v1alpha1.Rollout, obs Observed) *appsv1.ReplicaSet {
	if obs.Template == nil {
		return nil
	}
	if rs := byAnnotation(obs.PodHash, obs.ReplicaSets); rs != nil {
		return rs
	}
	want := obs.DefaultedTemplate
	if want == nil {
		want = obs.Template
	}
	var found *appsv1.ReplicaSet
	for _, rs := range obs.ReplicaSets {
		if rs.DeletionTimestamp != nil || !SameTemplate(ro, want, &rs.Spec.Template) {
			continue
		}
		if found == nil || revision(rs) > revision(found) ||
			(revision(rs) == revision(found) && found.CreationTimestamp.Before(&rs.CreationTimestamp)) {
			found = rs
		}
	}
	return found
}

func byAnnotation(hash string, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	for _, rs := range rss {
		if hash != "" && rs.Annotations[TemplateHashAnnotation] == hash && rs.DeletionTimestamp == nil {
			return rs
		}
	}
	return nil
}

// SameTemplate reports whether a ReplicaSet's template runs want (a defaulted Rollout template):
// semantic equality (quantities by value, nil and empty alike) after removing from both what
// sluice adds to a ReplicaSet's template — the hash label, the ephemeral metadata keys of the
// Rollout's strategy, and the anti-affinity term on the stable hash.
func SameTemplate(ro *v1alpha1.Rollout, want, rsTemplate *corev1.PodTemplateSpec) bool {
	return equality.Semantic.DeepEqual(forComparison(ro, want), forComparison(ro, rsTemplate))
}

// forComparison returns a copy of a template without what sluice adds to a ReplicaSet's template.
func forComparison(ro *v1alpha1.Rollout, tmpl *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	out := tmpl.DeepCopy()
	delete(out.Labels, v1alpha1.PodTemplateHashLabelKey)
	for _, md := range ephemeralMetadata(ro) {
		for k := range md.Labels {
			delete(out.Labels, k)
		}
		for k := range md.Annotations {
			delete(out.Annotations, k)
		}
	}
	dropAntiAffinity(out)
	return out
}

func ephemeralMetadata(ro *v1alpha1.Rollout) []*v1alpha1.PodTemplateMetadata {
	var out []*v1alpha1.PodTemplateMetadata
	if c := ro.Spec.Strategy.Canary; c != nil {
		out = append(out, c.CanaryMetadata, c.StableMetadata)
	}
	if b := ro.Spec.Strategy.BlueGreen; b != nil {
		out = append(out, b.PreviewMetadata, b.ActiveMetadata)
	}
	var set []*v1alpha1.PodTemplateMetadata
	for _, md := range out {
		if md != nil {
			set = append(set, md)
		}
	}
	return set
}

// dropAntiAffinity removes the pod anti-affinity terms sluice adds to a new ReplicaSet (selector:
// only the hash label; topology: the host), and the structs they leave empty.
func dropAntiAffinity(tmpl *corev1.PodTemplateSpec) {
	a := tmpl.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return
	}
	pa := a.PodAntiAffinity
	var required []corev1.PodAffinityTerm
	for _, t := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
		if !isHashTerm(t) {
			required = append(required, t)
		}
	}
	var preferred []corev1.WeightedPodAffinityTerm
	for _, t := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
		if !isHashTerm(t.PodAffinityTerm) {
			preferred = append(preferred, t)
		}
	}
	pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution = required, preferred
	if len(required) == 0 && len(preferred) == 0 {
		a.PodAntiAffinity = nil
	}
	if a.PodAntiAffinity == nil && a.PodAffinity == nil && a.NodeAffinity == nil {
		tmpl.Spec.Affinity = nil
	}
}

func isHashTerm(t corev1.PodAffinityTerm) bool {
	sel := t.LabelSelector
	return t.TopologyKey == "kubernetes.io/hostname" && sel != nil && len(sel.MatchExpressions) == 0 &&
		len(sel.MatchLabels) == 1 && sel.MatchLabels[v1alpha1.PodTemplateHashLabelKey] != ""
}

// toValue is a template as generic JSON values (quantities in their canonical form).
func toValue(tmpl *corev1.PodTemplateSpec) (any, error) {
	data, err := json.Marshal(tmpl)
	if err != nil {
		return nil, err
	}
	var v any
	return v, json.Unmarshal(data, &v)
}

// subset reports whether every value set in a is equal in b: maps key by key (a key unset, null
// or empty in a is not set), lists element by element with the same length, scalars equal.
func subset(a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, _ := b.(map[string]any)
		for k, x := range av {
			if isEmpty(x) {
				continue
			}
			y, ok := bv[k]
			if !ok || !subset(x, y) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return len(av) == 0 && isEmpty(b)
		}
		for i := range av {
			if !subset(av[i], bv[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(a, b)
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}
