package plan

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Ephemeral metadata: labels and annotations that pods carry only while they play a role —
// canaryMetadata/stableMetadata, previewMetadata/activeMetadata. When a ReplicaSet changes role
// (a canary is promoted), its pod template and its running pods change metadata in place; no pod
// is replaced.

// PodMetadata changes the ephemeral labels and annotations of one ReplicaSet's pod template and
// running pods (a nil value removes the key).
type PodMetadata struct {
	ReplicaSet  string
	Labels      map[string]*string
	Annotations map[string]*string
}

// roleMetadata returns the metadata for the new (candidate) and stable roles and every key either
// may set.
func (s *state) roleMetadata() (candidate, stable *v1alpha1.PodTemplateMetadata) {
	if c := s.ro.Spec.Strategy.Canary; c != nil {
		return c.CanaryMetadata, c.StableMetadata
	}
	b := s.ro.Spec.Strategy.BlueGreen
	return b.PreviewMetadata, b.ActiveMetadata
}

// podMetadata sets the ephemeral metadata of the new and stable ReplicaSets for their roles.
func (s *state) podMetadata() {
	candidate, stable := s.roleMetadata()
	if candidate == nil && stable == nil {
		return
	}
	want := map[*appsv1.ReplicaSet]*v1alpha1.PodTemplateMetadata{s.stableRS: stable}
	if s.newRS != s.stableRS && !s.status.Abort {
		want[s.newRS] = candidate
	}
	for rs, md := range want {
		if rs == nil {
			continue
		}
		if s.creating && rs == s.newRS {
			applyMetadata(&s.newRS.Spec.Template, md)
			continue
		}
		if change := metadataChange(&rs.Spec.Template, md, candidate, stable); change != nil {
			change.ReplicaSet = rs.Name
			s.plan.PodMetadata = append(s.plan.PodMetadata, *change)
		}
	}
}

func applyMetadata(tmpl *corev1.PodTemplateSpec, md *v1alpha1.PodTemplateMetadata) {
	if md == nil {
		return
	}
	for k, v := range md.Labels {
		if tmpl.Labels == nil {
			tmpl.Labels = map[string]string{}
		}
		tmpl.Labels[k] = v
	}
	for k, v := range md.Annotations {
		if tmpl.Annotations == nil {
			tmpl.Annotations = map[string]string{}
		}
		tmpl.Annotations[k] = v
	}
}

// metadataChange returns what turns a template's ephemeral metadata into want (keys of the other
// role are removed), or nil when it already holds it.
func metadataChange(tmpl *corev1.PodTemplateSpec, want, roleA, roleB *v1alpha1.PodTemplateMetadata) *PodMetadata {
	labels := diffKeys(tmpl.Labels, pick(want, true), keys(roleA, roleB, true))
	annotations := diffKeys(tmpl.Annotations, pick(want, false), keys(roleA, roleB, false))
	if len(labels)+len(annotations) == 0 {
		return nil
	}
	return &PodMetadata{Labels: labels, Annotations: annotations}
}

func pick(md *v1alpha1.PodTemplateMetadata, labels bool) map[string]string {
	if md == nil {
		return nil
	}
	if labels {
		return md.Labels
	}
	return md.Annotations
}

func keys(a, b *v1alpha1.PodTemplateMetadata, labels bool) map[string]bool {
	out := map[string]bool{}
	for _, md := range []*v1alpha1.PodTemplateMetadata{a, b} {
		for k := range pick(md, labels) {
			out[k] = true
		}
	}
	return out
}

func diffKeys(have, want map[string]string, managed map[string]bool) map[string]*string {
	out := map[string]*string{}
	for k := range managed {
		v, wanted := want[k]
		cur, present := have[k]
		switch {
		case wanted && (!present || cur != v):
			out[k] = &v
		case !wanted && present:
			out[k] = nil
		}
	}
	return out
}
