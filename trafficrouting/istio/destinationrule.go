package istio

import (
	"slices"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// ManagedByAnnotation marks the DestinationRule whose subsets a rollout manages, as Argo Rollouts
// does.
const ManagedByAnnotation = "argo-rollouts.argoproj.io/managed-by-rollouts"

// subsets returns the DestinationRule's canary and stable subsets; a missing one is a ConfigError.
func subsets(dr *istionetworkingv1.DestinationRule, ref v1alpha1.IstioDestinationRule) (canary, stable *networkingv1alpha3.Subset, err error) {
	find := func(name string) *networkingv1alpha3.Subset {
		i := slices.IndexFunc(dr.Spec.GetSubsets(), func(s *networkingv1alpha3.Subset) bool { return s.GetName() == name })
		if i < 0 {
			return nil
		}
		return dr.Spec.Subsets[i]
	}
	if canary = find(ref.CanarySubsetName); canary == nil {
		return nil, nil, configError("DestinationRule %s has no subset %q (canarySubsetName)", key(dr), ref.CanarySubsetName)
	}
	if stable = find(ref.StableSubsetName); stable == nil {
		return nil, nil, configError("DestinationRule %s has no subset %q (stableSubsetName)", key(dr), ref.StableSubsetName)
	}
	return canary, stable, nil
}

// setSubsetHashes points the canary and stable subsets at the pods of the given pod-template
// hashes (an empty hash removes the label) and marks the DestinationRule as managed by rollout.
// Other subsets, labels and fields are untouched.
func setSubsetHashes(dr *istionetworkingv1.DestinationRule, ref v1alpha1.IstioDestinationRule, rollout, canaryHash, stableHash string) (bool, error) {
	canary, stable, err := subsets(dr, ref)
	if err != nil {
		return false, err
	}
	changed := setHashLabel(canary, canaryHash)
	changed = setHashLabel(stable, stableHash) || changed
	if dr.Annotations[ManagedByAnnotation] != rollout {
		if dr.Annotations == nil {
			dr.Annotations = map[string]string{}
		}
		dr.Annotations[ManagedByAnnotation] = rollout
		changed = true
	}
	return changed, nil
}

func setHashLabel(s *networkingv1alpha3.Subset, hash string) bool {
	current, ok := s.GetLabels()[v1alpha1.PodTemplateHashLabelKey]
	switch {
	case hash == "" && !ok:
		return false
	case hash == "":
		delete(s.Labels, v1alpha1.PodTemplateHashLabelKey)
		return true
	case ok && current == hash:
		return false
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.Labels[v1alpha1.PodTemplateHashLabelKey] = hash
	return true
}
