// Package render turns a Rollout and the objects it owns into the text the plugin prints: the
// header and tree of `get rollout` and the table of `list rollouts`. Everything here is a pure
// function of typed objects and the time, so the output is tested with golden files.
package render

import (
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Objects are a Rollout and what it owns, as read from the cluster.
type Objects struct {
	Rollout      *v1alpha1.Rollout
	ReplicaSets  []appsv1.ReplicaSet
	Pods         []corev1.Pod
	AnalysisRuns []v1alpha1.AnalysisRun
}

// Summary is what the header and the list say about one Rollout.
type Summary struct {
	Name, Namespace string
	Strategy        string // Canary or BlueGreen
	Phase           v1alpha1.RolloutPhase
	Message         string
	Step            string // "1/4", "-" without steps
	SetWeight       string // "25", "-" for blue-green
	ActualWeight    string
	WeightsVerified *bool
	Desired         int32
	Current         int32
	Updated         int32
	Ready           int32
	Available       int32
}

// Summarize reads a Rollout's status the way the controller wrote it. A status that has not
// caught up with the spec (observedGeneration behind metadata.generation) is Progressing: the
// controller has not looked at the latest change yet.
func Summarize(ro *v1alpha1.Rollout, rss []appsv1.ReplicaSet) Summary {
	s := Summary{
		Name: ro.Name, Namespace: ro.Namespace,
		Strategy: strategyOf(ro), Phase: ro.Status.Phase, Message: ro.Status.Message,
		Step: "-", SetWeight: "-", ActualWeight: "-",
		Desired: ro.Spec.GetReplicas(), Current: ro.Status.Replicas, Updated: ro.Status.UpdatedReplicas,
		Ready: ro.Status.ReadyReplicas, Available: ro.Status.AvailableReplicas,
	}
	if ro.Status.ObservedGeneration != strconv.FormatInt(ro.Generation, 10) {
		s.Phase, s.Message = v1alpha1.RolloutPhaseProgressing, "waiting for the controller to observe the latest spec"
	}
	if s.Phase == "" {
		s.Phase = v1alpha1.RolloutPhaseProgressing
	}
	if c := ro.Spec.Strategy.Canary; c != nil {
		if len(c.Steps) > 0 && ro.Status.CurrentStepIndex != nil {
			s.Step = fmt.Sprintf("%d/%d", *ro.Status.CurrentStepIndex, len(c.Steps))
		}
		set := setWeight(ro)
		s.SetWeight = strconv.Itoa(int(set))
		s.ActualWeight = strconv.Itoa(int(actualWeight(ro, rss, set)))
		if w := ro.Status.Canary.Weights; w != nil {
			s.WeightsVerified = w.Verified
		}
	}
	return s
}

func strategyOf(ro *v1alpha1.Rollout) string {
	switch {
	case ro.Spec.Strategy.BlueGreen != nil:
		return "BlueGreen"
	case ro.Spec.Strategy.Canary != nil:
		return "Canary"
	}
	return "-"
}

// setWeight is the canary weight the current step asks for: 100 once the update is stable or
// past its last step, 0 after an abort, else the last setWeight at or before the current step.
func setWeight(ro *v1alpha1.Rollout) int32 {
	st := ro.Status
	steps := ro.Spec.Strategy.Canary.Steps
	switch {
	case st.Abort:
		return 0
	case st.CurrentPodHash != "" && st.CurrentPodHash == st.StableRS:
		return 100
	case st.CurrentStepIndex == nil || int(*st.CurrentStepIndex) >= len(steps):
		return 100
	}
	for i := int(*st.CurrentStepIndex); i >= 0; i-- {
		if w := steps[i].SetWeight; w != nil {
			return *w
		}
	}
	return 0
}

// actualWeight is the weight the traffic router was last set to, or, without a router, the
// canary's share of the available pods.
func actualWeight(ro *v1alpha1.Rollout, rss []appsv1.ReplicaSet, set int32) int32 {
	if w := ro.Status.Canary.Weights; w != nil {
		return w.Canary.Weight
	}
	if ro.Spec.Strategy.Canary.TrafficRouting != nil {
		return set
	}
	st := ro.Status
	if st.CurrentPodHash == st.StableRS {
		return set
	}
	var canary, total int32
	for i := range rss {
		rs := &rss[i]
		n := rs.Status.AvailableReplicas
		total += n
		if hashOf(rs) == st.CurrentPodHash {
			canary += n
		}
	}
	if total == 0 {
		return 0
	}
	return (canary*100 + total/2) / total
}

func hashOf(rs *appsv1.ReplicaSet) string { return rs.Labels[v1alpha1.PodTemplateHashLabelKey] }

// Roles names what each pod-template hash is to the rollout: stable and canary, or active and
// preview for blue-green.
func Roles(ro *v1alpha1.Rollout) map[string][]string {
	out := map[string][]string{}
	add := func(hash, role string) {
		if hash != "" {
			out[hash] = append(out[hash], role)
		}
	}
	st := ro.Status
	if ro.Spec.Strategy.BlueGreen != nil {
		add(st.BlueGreen.ActiveSelector, "active")
		if st.BlueGreen.PreviewSelector != st.BlueGreen.ActiveSelector {
			add(st.BlueGreen.PreviewSelector, "preview")
		}
		if st.StableRS != st.BlueGreen.ActiveSelector {
			add(st.StableRS, "stable")
		}
		return out
	}
	add(st.StableRS, "stable")
	if st.CurrentPodHash != st.StableRS {
		add(st.CurrentPodHash, "canary")
	}
	return out
}

// Image is one image the rollout runs, with the roles of the ReplicaSets that run it.
type Image struct {
	Image string
	Roles []string
}

// Images lists the images of the ReplicaSets that have a role, in the order stable/active first.
func Images(ro *v1alpha1.Rollout, rss []appsv1.ReplicaSet) []Image {
	roles := Roles(ro)
	byImage := map[string]map[string]bool{}
	for i := range rss {
		rs := &rss[i]
		rr := roles[hashOf(rs)]
		if len(rr) == 0 {
			continue
		}
		for _, c := range rs.Spec.Template.Spec.Containers {
			if byImage[c.Image] == nil {
				byImage[c.Image] = map[string]bool{}
			}
			for _, r := range rr {
				byImage[c.Image][r] = true
			}
		}
	}
	rank := map[string]int{"stable": 0, "active": 1, "canary": 2, "preview": 3}
	var out []Image
	for img, set := range byImage {
		var rr []string
		for r := range set {
			rr = append(rr, r)
		}
		sort.Slice(rr, func(i, j int) bool { return rank[rr[i]] < rank[rr[j]] })
		out = append(out, Image{Image: img, Roles: rr})
	}
	sort.Slice(out, func(i, j int) bool {
		if ri, rj := rank[out[i].Roles[0]], rank[out[j].Roles[0]]; ri != rj {
			return ri < rj
		}
		return out[i].Image < out[j].Image
	})
	return out
}
