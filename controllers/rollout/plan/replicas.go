package plan

import (
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Small accessors on ReplicaSets, tolerant of missing fields.

func specReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

func availableReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return rs.Status.AvailableReplicas
}

func podHash(rs *appsv1.ReplicaSet) string {
	if rs == nil {
		return ""
	}
	return rs.Labels[v1alpha1.PodTemplateHashLabelKey]
}

func revision(rs *appsv1.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations[v1alpha1.RevisionAnnotationKey], 10, 64)
	return n
}

// fullyAvailable reports whether rs runs its desired replicas, all available, and the
// ReplicaSet controller has seen its latest spec.
func fullyAvailable(rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	want := specReplicas(rs)
	return rs.Status.ObservedGeneration >= rs.Generation && rs.Status.Replicas == want && rs.Status.AvailableReplicas == want
}

// byRevision sorts ReplicaSets oldest revision first.
func byRevision(list []*appsv1.ReplicaSet) {
	sort.SliceStable(list, func(i, j int) bool {
		ri, rj := revision(list[i]), revision(list[j])
		if ri != rj {
			return ri < rj
		}
		return list[i].CreationTimestamp.Before(&list[j].CreationTimestamp)
	})
}

// ceilPercent is ceil(n * pct / 100) for non-negative inputs.
func ceilPercent(n, pct int32) int32 {
	return int32((int64(n)*int64(pct) + 99) / 100)
}

// canaryTargets splits replicas between the canary and the stable ReplicaSet for a weight, rounding
// both up as Argo Rollouts does (so a split may briefly hold one pod more than replicas).
func canaryTargets(replicas, weight int32) (canary, stable int32) {
	return ceilPercent(replicas, weight), ceilPercent(replicas, 100-weight)
}

// budget is how far a rolling change may go: pods above the desired count and available pods
// below it.
type budget struct {
	maxTotal     int32 // replicas + maxSurge
	minAvailable int32 // replicas - maxUnavailable
}

func newBudget(replicas int32, maxSurge, maxUnavailable intstr.IntOrString) budget {
	surge, _ := intstr.GetScaledValueFromIntOrPercent(&maxSurge, int(replicas), true)
	unavailable, _ := intstr.GetScaledValueFromIntOrPercent(&maxUnavailable, int(replicas), false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	minAvailable := replicas - int32(unavailable)
	if minAvailable < 0 {
		minAvailable = 0
	}
	return budget{maxTotal: replicas + int32(surge), minAvailable: minAvailable}
}

// rolling moves a set of ReplicaSets toward target replica counts without going over maxTotal pods
// or under minAvailable available pods. Scale-ups come first (within the surge), then scale-downs
// (older ReplicaSets first, unavailable pods first, within the availability budget).
type rolling struct {
	sets    []*appsv1.ReplicaSet // oldest first
	targets map[*appsv1.ReplicaSet]int32
	budget  budget
}

// result returns the new desired replicas of every ReplicaSet.
func (r rolling) result() map[*appsv1.ReplicaSet]int32 {
	out := make(map[*appsv1.ReplicaSet]int32, len(r.sets))
	var total, available int32
	for _, rs := range r.sets {
		out[rs] = specReplicas(rs)
		total += specReplicas(rs)
		available += minInt32(availableReplicas(rs), specReplicas(rs))
	}
	// Scale up, newest first, within the surge.
	for i := len(r.sets) - 1; i >= 0; i-- {
		rs := r.sets[i]
		if want := r.targets[rs]; want > out[rs] {
			room := r.budget.maxTotal - total
			if room <= 0 {
				continue
			}
			add := minInt32(want-out[rs], room)
			out[rs] += add
			total += add
		}
	}
	// Scale down, oldest first: unavailable pods go for free, available ones within the budget.
	spare := available - r.budget.minAvailable
	for _, rs := range r.sets {
		want := r.targets[rs]
		if want >= out[rs] {
			continue
		}
		excess := out[rs] - want
		unavailable := maxInt32(specReplicas(rs)-availableReplicas(rs), 0)
		free := minInt32(excess, unavailable)
		paid := minInt32(excess-free, maxInt32(spare, 0))
		spare -= paid
		out[rs] -= free + paid
	}
	return out
}

func minInt32(a, b int32) int32 {
	if a < b {
		return a
	}
	return b
}

func maxInt32(a, b int32) int32 {
	if a > b {
		return a
	}
	return b
}
