package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestRolloutPodMetadataFollowsTheRole: canaryMetadata and stableMetadata label the running pods
// of each role in place, and a promotion relabels the promoted pods as stable. The controller
// runs under the shipped RBAC (startManager), so this fails if it may not patch pods.
func TestRolloutPodMetadataFollowsTheRole(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	newService(t, ns, "web-stable", "web")
	newService(t, ns, "web-canary", "web")
	strategy := canarySteps(setWeight(50), pauseFor(""))
	c := strategy.Canary
	c.StableService, c.CanaryService = "web-stable", "web-canary"
	c.CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}}
	c.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable"}}
	if err := env.client.Create(ctx, newRolloutObject(ns, "web", "app:1", 2, strategy)); err != nil {
		t.Fatalf("create Rollout: %v", err)
	}
	first := waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute)
	oldHash := first.Status.StableRS
	waitPodRoles(t, ns, map[string]string{oldHash: "stable"})

	setImage(t, ns, "web", "app:2")
	paused := waitPhase(t, ns, "web", v1alpha1.RolloutPhasePaused, time.Minute)
	newHash := paused.Status.CurrentPodHash
	waitPodRoles(t, ns, map[string]string{oldHash: "stable", newHash: "canary"})

	patchStatus(t, ns, "web", `{"status":{"pauseConditions":null}}`)
	waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute)
	// The promoted pods are relabelled in place (the old ones are scaled away).
	waitPodRoles(t, ns, map[string]string{newHash: "stable"})
}

// waitPodRoles waits until every running pod of each pod-template hash carries the role label
// given for it (and some pod of each exists).
func waitPodRoles(t *testing.T, ns string, want map[string]string) {
	t.Helper()
	var seen string
	eventually(t, time.Minute, fmt.Sprintf("pod roles %v", want), func() (bool, error) {
		var pods corev1.PodList
		if err := env.client.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": "web"}); err != nil {
			return false, err
		}
		var got []string
		found := map[string]bool{}
		ok := true
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			hash := p.Labels[v1alpha1.PodTemplateHashLabelKey]
			role, wanted := want[hash]
			if !wanted {
				continue
			}
			found[hash] = true
			got = append(got, hash+"="+p.Labels["role"])
			ok = ok && p.Labels["role"] == role
		}
		sort.Strings(got)
		seen = strings.Join(got, ",")
		return ok && len(found) == len(want), nil
	})
	t.Logf("pod roles: %s", seen)
}
