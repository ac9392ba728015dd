package actions

import (
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Revision is the rollout.argoproj.io/revision of a ReplicaSet, 0 when it has none.
func Revision(rs *appsv1.ReplicaSet) int64 {
	n, err := strconv.ParseInt(rs.Annotations[v1alpha1.RevisionAnnotationKey], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// Undo copies the pod template of a previous ReplicaSet into the rollout's spec (a JSON patch
// replacing /spec/template, as the Argo tools send it), without the pod-template-hash label the
// controller adds. toRevision 0 means the revision before the newest; rss are the rollout's
// ReplicaSets.
func Undo(ro *v1alpha1.Rollout, rss []*appsv1.ReplicaSet, toRevision int64) (Result, error) {
	if ro.Spec.WorkloadRef != nil {
		return Result{}, fmt.Errorf("rollout '%s' takes its template from %s %s: undo there", ro.Name, ro.Spec.WorkloadRef.Kind, ro.Spec.WorkloadRef.Name)
	}
	target, err := pickRevision(ro.Name, rss, toRevision)
	if err != nil {
		return Result{}, err
	}
	rev := Revision(target)
	tmpl := target.Spec.Template.DeepCopy()
	delete(tmpl.Labels, v1alpha1.PodTemplateHashLabelKey)
	current := ro.Spec.Template.DeepCopy()
	delete(current.Labels, v1alpha1.PodTemplateHashLabelKey)
	if equality.Semantic.DeepDerivative(current, tmpl) {
		return Result{Message: fmt.Sprintf("rollout '%s' already runs the template of revision %d: nothing to undo", ro.Name, rev)}, nil
	}
	body := jsonBody([]map[string]any{{"op": "replace", "path": "/spec/template", "value": tmpl}})
	return Result{
		Patches: []Patch{{Target: Spec, Type: JSONPatch, Body: body}},
		Message: fmt.Sprintf("rollout '%s' rolled back to the template of revision %d", ro.Name, rev),
	}, nil
}

func pickRevision(name string, rss []*appsv1.ReplicaSet, toRevision int64) (*appsv1.ReplicaSet, error) {
	var withRev []*appsv1.ReplicaSet
	for _, rs := range rss {
		if Revision(rs) > 0 {
			withRev = append(withRev, rs)
		}
	}
	sort.Slice(withRev, func(i, j int) bool { return Revision(withRev[i]) > Revision(withRev[j]) })
	if toRevision > 0 {
		for _, rs := range withRev {
			if Revision(rs) == toRevision {
				return rs, nil
			}
		}
		return nil, fmt.Errorf("rollout '%s' has no revision %d in its history (%s)", name, toRevision, revisionList(withRev))
	}
	if len(withRev) < 2 {
		return nil, fmt.Errorf("rollout '%s' has no previous revision to go back to", name)
	}
	return withRev[1], nil
}

func revisionList(rss []*appsv1.ReplicaSet) string {
	if len(rss) == 0 {
		return "none kept"
	}
	s := "kept:"
	for _, rs := range rss {
		s += fmt.Sprintf(" %d", Revision(rs))
	}
	return s
}
