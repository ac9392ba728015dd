package plan

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestEveryRollingBudgetFinishes: a canary without traffic routing finishes two updates, whatever
// its size, rolling budget and steps, with and without Services: no combination deadlocks (the
// simulator's invariants hold at every step, the budget included), and it ends with its replicas
// and the current template stable. maxSurge 0 with maxUnavailable 0 is InvalidSpec.
func TestEveryRollingBudgetFinishes(t *testing.T) {
	stepsets := map[string][]v1alpha1.CanaryStep{
		"none":     nil,
		"w100":     {weight(100)},
		"w50p":     {weight(50), pause("1s")},
		"w20w100p": {weight(20), weight(100), pause("1s")},
	}
	for _, replicas := range []int32{1, 2, 3, 5} {
		for _, surge := range []string{"0", "1", "25%"} {
			for _, unav := range []string{"0", "1", "25%", "100%"} {
				for sname, steps := range stepsets {
					for _, svc := range []bool{true, false} {
						name := fmt.Sprintf("r%d-s%s-u%s-%s-svc%v", replicas, surge, unav, sname, svc)
						t.Run(name, func(t *testing.T) {
							ro := canaryRollout(replicas, steps...)
							su, un := intstr.Parse(surge), intstr.Parse(unav)
							ro.Spec.Strategy.Canary.MaxSurge, ro.Spec.Strategy.Canary.MaxUnavailable = &su, &un
							var w *world
							if svc {
								w = newWorld(t, ro, "demo-canary", "demo-stable")
							} else {
								ro.Spec.Strategy.Canary.CanaryService, ro.Spec.Strategy.Canary.StableService = "", ""
								w = newWorld(t, ro)
							}
							ro.Spec.Replicas = ptr.To(replicas)
							w.settle(time.Minute)
							if surge == "0" && unav == "0" {
								if c := condition(&w.ro.Status, v1alpha1.InvalidSpec); c == nil {
									t.Fatalf("maxSurge 0 and maxUnavailable 0: phase %s, want InvalidSpec", w.ro.Status.Phase)
								}
								return
							}
							if w.ro.Status.Phase != v1alpha1.RolloutPhaseHealthy {
								t.Fatalf("initial phase %s %s\n%s", w.ro.Status.Phase, w.ro.Status.Message, w.log.String())
							}
							w.setImage("app:2")
							w.settle(time.Hour)
							if w.ro.Status.Phase != v1alpha1.RolloutPhaseHealthy {
								t.Fatalf("phase %s %s\n%s", w.ro.Status.Phase, w.ro.Status.Message, w.log.String())
							}
							if w.ro.Status.StableRS != w.ro.Status.CurrentPodHash {
								t.Fatalf("stable %s current %s\n%s", w.ro.Status.StableRS, w.ro.Status.CurrentPodHash, w.log.String())
							}
							// A second update, from a stable that went through the first.
							w.setImage("app:3")
							w.settle(time.Hour)
							if w.ro.Status.Phase != v1alpha1.RolloutPhaseHealthy || w.ro.Status.StableRS != w.ro.Status.CurrentPodHash {
								t.Fatalf("2nd: phase %s %s\n%s", w.ro.Status.Phase, w.ro.Status.Message, w.log.String())
							}
							var n int32
							for _, rs := range w.rss {
								n += specReplicas(rs)
							}
							if n != replicas {
								t.Fatalf("end with %d pods, want %d\n%s", n, replicas, w.log.String())
							}
						})
					}
				}
			}
		}
	}
}
