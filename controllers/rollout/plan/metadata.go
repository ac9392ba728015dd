package plan

import (
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Ephemeral metadata: labels and annotations that pods carry only while they play a role —
// canaryMetadata/stableMetadata, previewMetadata/activeMetadata. When a ReplicaSet changes role
// (a canary is promoted), its pod template and its running pods change metadata in place; no pod
// is replaced.
//
// What was injected is recorded on the ReplicaSet in EphemeralMetadataAnnotation, so a key later
// dropped from the strategy is removed from the template and the pods too. A ReplicaSet without
// the record (created before it was kept) is taken to carry the keys the strategy names now.

// EphemeralMetadataAnnotation records on a ReplicaSet the ephemeral metadata injected into its
// pod template and pods: the JSON of a PodTemplateMetadata, Argo Rollouts' key and format.
const EphemeralMetadataAnnotation = "rollout.argoproj.io/ephemeral-metadata"

// PodMetadata changes the ephemeral labels and annotations of one ReplicaSet's pod template and
// running pods (a nil value removes the key). The executor changes the pods first and the
// template last, together with the record: a failure part-way leaves the template as it was, so
// the change is planned again until every pod has it.
type PodMetadata struct {
	ReplicaSet  string
	Labels      map[string]*string
	Annotations map[string]*string
	// Injected is the new value of the ReplicaSet's EphemeralMetadataAnnotation; nil removes it.
	Injected *string
}

// Relabels reports whether the change touches the template and pods (and not only the record).
func (md PodMetadata) Relabels() bool {
	return len(md.Labels)+len(md.Annotations) > 0
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
			if v := injected(md); v != nil {
				s.newRS.Annotations[EphemeralMetadataAnnotation] = *v
			}
			continue
		}
		if change := metadataChange(rs, md, candidate, stable); change != nil {
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

// metadataChange returns what turns a ReplicaSet's ephemeral metadata into want, or nil when it
// already holds it: the keys it was given (its record, or without one the keys of either role)
// that want does not name are removed.
func metadataChange(rs *appsv1.ReplicaSet, want, roleA, roleB *v1alpha1.PodTemplateMetadata) *PodMetadata {
	given := [2]map[string]bool{keys(roleA, roleB, true), keys(roleA, roleB, false)}
	recorded, hasRecord := rs.Annotations[EphemeralMetadataAnnotation]
	if hasRecord {
		var md v1alpha1.PodTemplateMetadata
		if err := json.Unmarshal([]byte(recorded), &md); err == nil {
			given = [2]map[string]bool{keys(&md, nil, true), keys(&md, nil, false)}
		}
	}
	for k := range pick(want, true) {
		given[0][k] = true
	}
	for k := range pick(want, false) {
		given[1][k] = true
	}
	tmpl := &rs.Spec.Template
	change := &PodMetadata{
		Labels:      diffKeys(tmpl.Labels, pick(want, true), given[0]),
		Annotations: diffKeys(tmpl.Annotations, pick(want, false), given[1]),
		Injected:    injected(want),
	}
	sameRecord := (change.Injected == nil && !hasRecord) || (change.Injected != nil && hasRecord && *change.Injected == recorded)
	if !change.Relabels() && sameRecord {
		return nil
	}
	return change
}

// injected is the record of md for EphemeralMetadataAnnotation, or nil when md sets nothing.
func injected(md *v1alpha1.PodTemplateMetadata) *string {
	if md == nil || len(md.Labels)+len(md.Annotations) == 0 {
		return nil
	}
	b, err := json.Marshal(md)
	if err != nil {
		return nil // maps of strings always encode
	}
	v := string(b)
	return &v
}

// relabelling reports whether this plan still changes the metadata of the new ReplicaSet's pods:
// until they carry the metadata of their role, the update is not complete.
func (s *state) relabelling() bool {
	for _, md := range s.plan.PodMetadata {
		if md.ReplicaSet == s.newRS.Name && md.Relabels() {
			return true
		}
	}
	return false
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
