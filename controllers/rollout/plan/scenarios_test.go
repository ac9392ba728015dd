package plan

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Whole-rollout golden sequences: each scenario drives a simulated cluster through the planner and
// compares the sequence of states with testdata/<name>.golden. Run with -update to rewrite them,
// then read the diff: the golden files are the specification.
func TestScenarios(t *testing.T) {
	scenarios := map[string]func(w *world){
		"canary-initial-deploy": func(w *world) {
			w.settle(time.Minute)
		},
		"canary-25-pause-50-pause": func(w *world) {
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Minute)
		},
		"canary-no-steps-rolling-update": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = nil
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Minute)
		},
		"canary-promote-indefinite-pause": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause(""), weight(75), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"canary-promote-full": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause(""), weight(75), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("promote full")
			w.ro.Status.PromoteFull = true
			w.settle(time.Hour)
		},
		"canary-abort-mid-step": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("abort")
			w.ro.Status.Abort = true
			w.settle(time.Hour)
		},
		"canary-abort-then-retry": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("10s")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(2 * time.Second)
			w.note("abort")
			w.ro.Status.Abort = true
			w.settle(time.Minute)
			w.note("retry")
			w.ro.Status.Abort = false
			w.settle(time.Minute)
		},
		"canary-update-during-update": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.setImage("app:3")
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"canary-revert-to-stable-mid-rollout": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.setImage("app:1")
			w.settle(time.Hour)
		},
		"canary-undo-outside-rollback-window": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("1s")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.setImage("app:1")
			w.settle(time.Hour)
		},
		"canary-undo-inside-rollback-window": func(w *world) {
			w.ro.Spec.RollbackWindow = &v1alpha1.RollbackWindowSpec{Revisions: 2}
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("1s")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.setImage("app:1")
			w.settle(time.Hour)
		},
		"canary-restart": func(w *world) {
			w.settle(time.Minute)
			w.note("restartAt now, three old pods")
			w.oldPods = []string{"pod-a", "pod-b", "pod-c"}
			w.ro.Spec.RestartAt = ptr.To(metav1.NewTime(w.now))
			w.ro.Generation++
			w.settle(time.Minute)
		},
		"canary-replicas-change-mid-rollout": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("replicas 4 -> 8")
			w.ro.Spec.Replicas = ptr.To[int32](8)
			w.ro.Generation++
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"canary-max-surge-zero": func(w *world) {
			surge, unavailable := intstr.FromInt32(0), intstr.FromInt32(1)
			w.ro.Spec.Strategy.Canary.MaxSurge, w.ro.Spec.Strategy.Canary.MaxUnavailable = &surge, &unavailable
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50)}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Minute)
		},
		"canary-stable-service-moves-before-scale-down": func(w *world) {
			// maxUnavailable 0: the old stable keeps its pods until the canary runs every replica,
			// and the stable Service moves to the canary before they go.
			surge, unavailable := intstr.FromInt32(1), intstr.FromInt32(0)
			w.ro.Spec.Replicas = ptr.To[int32](2)
			w.ro.Spec.Strategy.Canary.MaxSurge, w.ro.Spec.Strategy.Canary.MaxUnavailable = &surge, &unavailable
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("1s")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Minute)
		},
		"canary-update-while-old-pods-terminate": func(w *world) {
			// The canary finished and the old stable is at zero, but its pods linger: a new
			// template starts from the finished canary, and the old version stays down.
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("1s")}
			w.settle(time.Minute)
			w.lagging[w.ro.Status.StableRS] = true
			w.setImage("app:2")
			w.settle(time.Minute)
			w.setImage("app:3")
			w.settle(time.Minute)
			w.note("the old pods go")
			w.lagging = map[string]bool{}
			w.settle(time.Minute)
		},
		"canary-abort-while-old-pods-terminate": func(w *world) {
			// An abort that comes after the canary finished but before it is recorded as stable
			// (the old stable at zero, its pods lingering) returns to the old version, as in Argo.
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("1s")}
			w.settle(time.Minute)
			w.lagging[w.ro.Status.StableRS] = true
			w.setImage("app:2")
			w.settle(time.Minute)
			w.note("abort")
			w.ro.Status.Abort = true
			w.settle(time.Minute)
			w.note("the old pods go")
			w.lagging = map[string]bool{}
			w.settle(time.Minute)
		},
		"canary-replicas-change-while-old-pods-terminate": func(w *world) {
			// The stable Service has moved to the finished canary; a replica change before the
			// old pods are gone does not send it back to the old version.
			surge, unavailable := intstr.FromInt32(1), intstr.FromInt32(0)
			w.ro.Spec.Replicas = ptr.To[int32](2)
			w.ro.Spec.Strategy.Canary.MaxSurge, w.ro.Spec.Strategy.Canary.MaxUnavailable = &surge, &unavailable
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("1s")}
			w.settle(time.Minute)
			w.lagging[w.ro.Status.StableRS] = true
			w.setImage("app:2")
			w.settle(time.Minute)
			w.note("replicas 2 -> 4")
			w.ro.Spec.Replicas = ptr.To[int32](4)
			w.settle(time.Minute)
			w.note("the old pods go")
			w.lagging = map[string]bool{}
			w.settle(time.Minute)
		},
		"canary-promote-moves-index-past-last-step": func(w *world) {
			// A promote that moves status.currentStepIndex past the last pause (as Argo's CLI
			// does) skips that step's event, so the completion gets RolloutCompleted.
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("promote by moving currentStepIndex to 2")
			w.ro.Status.PauseConditions = nil
			w.ro.Status.ControllerPause = false
			w.ro.Status.CurrentStepIndex = ptr.To[int32](2)
			w.settle(time.Hour)
		},
		"canary-back-to-a-revision-whose-end-was-announced": func(w *world) {
			// Revision 2's last step announced its end once; when its template comes back and is
			// promoted in full, that old announcement does not stand in for the new completion.
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("1s")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Minute)
			w.setImage("app:3")
			w.settle(100 * time.Millisecond)
			w.note("promote full")
			w.ro.Status.PromoteFull = true
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(100 * time.Millisecond)
			w.note("promote full")
			w.ro.Status.PromoteFull = true
			w.settle(time.Minute)
		},
		"canary-update-after-the-finished-canary-turns-unready": func(w *world) {
			// The stable Service moved to the finished canary; its pods turn unready before it is
			// promoted. A new template still starts from it: the Service never goes back to the
			// old version, which has no pods.
			surge, unavailable := intstr.FromInt32(1), intstr.FromInt32(0)
			w.ro.Spec.Replicas = ptr.To[int32](2)
			w.ro.Spec.Strategy.Canary.MaxSurge, w.ro.Spec.Strategy.Canary.MaxUnavailable = &surge, &unavailable
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("1s")}
			w.settle(time.Minute)
			old := w.ro.Status.StableRS
			w.lagging[old] = true
			w.setImage("app:2")
			w.settle(time.Minute)
			w.note("the canary's pods turn unready; the old pods go")
			w.slow[w.ro.Status.CurrentPodHash] = true
			w.lagging = map[string]bool{}
			w.settle(time.Minute)
			w.setImage("app:3")
			w.settle(time.Minute)
			w.note("revision 2's pods recover")
			w.slow = map[string]bool{}
			w.settle(time.Minute)
		},
		"canary-steps-change-after-the-canary-finished": func(w *world) {
			// New steps after the canary finished (old pods lingering) do not send the rollout
			// back to the old version.
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("1s")}
			w.settle(time.Minute)
			w.lagging[w.ro.Status.StableRS] = true
			w.setImage("app:2")
			w.settle(time.Minute)
			w.note("steps change")
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause("1s")}
			w.settle(time.Minute)
			w.note("the old pods go")
			w.lagging = map[string]bool{}
			w.settle(time.Minute)
		},
		"canary-abort-after-the-last-step-then-promote-full": func(w *world) {
			// The last step announced the end, then an abort and a retry promoted in full: the
			// completion gets its RolloutCompleted event.
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("1s")}
			w.settle(time.Minute)
			w.lagging[w.ro.Status.StableRS] = true
			w.setImage("app:2")
			w.settle(time.Minute)
			w.note("abort")
			w.ro.Status.Abort = true
			w.settle(time.Minute)
			w.lagging = map[string]bool{}
			w.note("retry and promote full")
			w.ro.Status.Abort = false
			w.ro.Status.PromoteFull = true
			w.settle(time.Minute)
		},
		"canary-controller-restart-during-pause": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause("30s")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(10 * time.Second)
			w.note("controller restarts: the precise pause start is forgotten")
			w.pauses = nil
			w.settle(time.Hour)
		},
		"canary-user-pause-and-resume": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause("5s"), weight(50)}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.note("spec.paused = true")
			w.ro.Spec.Paused = true
			w.settle(time.Hour)
			w.note("spec.paused = false")
			w.ro.Spec.Paused = false
			w.settle(time.Hour)
		},
		"canary-user-pause-during-pause-step": func(w *world) {
			// Argo Rollouts' phase message: a person's pause ("manually paused") is named even
			// while the controller's pause condition stands.
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause(""), weight(50)}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("spec.paused = true at the pause step")
			w.ro.Spec.Paused = true
			w.settle(time.Hour)
			w.note("spec.paused = false")
			w.ro.Spec.Paused = false
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"canary-progress-deadline": func(w *world) {
			w.settle(time.Minute)
			w.slow[PodTemplateHash(&w.ro.Spec.Template, nil)] = false
			w.setImage("app:2")
			w.slow[PodTemplateHash(&w.ro.Spec.Template, nil)] = true
			w.settle(time.Hour)
		},
		"canary-progress-deadline-abort": func(w *world) {
			w.ro.Spec.ProgressDeadlineAbort = true
			w.ro.Spec.ProgressDeadlineSeconds = ptr.To[int32](60)
			w.settle(time.Minute)
			w.setImage("app:2")
			w.slow[PodTemplateHash(&w.ro.Spec.Template, nil)] = true
			w.settle(time.Hour)
		},
		"canary-analysis-passes": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), analysisStep("success-rate"), weight(50)}
			w.runOutcome = func(RunRequest) v1alpha1.AnalysisPhase { return v1alpha1.AnalysisPhaseSuccessful }
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
		},
		"canary-analysis-fails-and-aborts": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), analysisStep("success-rate"), weight(50)}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("the analysis fails")
			for _, r := range w.runs {
				r.Phase, r.Message = v1alpha1.AnalysisPhaseFailed, "metric error-ratio assessed Failed"
			}
			w.settle(time.Hour)
		},
		"canary-analysis-inconclusive-then-promote": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), analysisStep("success-rate"), weight(50)}
			w.runOutcome = func(RunRequest) v1alpha1.AnalysisPhase { return v1alpha1.AnalysisPhaseInconclusive }
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"canary-background-analysis-fails": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause("")}
			w.ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{
				RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "errors"}}},
			}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("the background analysis fails")
			for _, r := range w.runs {
				r.Phase, r.Message = v1alpha1.AnalysisPhaseError, "connection refused"
			}
			w.settle(time.Hour)
		},
		"canary-analysis-fails-then-retry-runs-a-new-attempt": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), analysisStep("success-rate"), weight(50)}
			attempts := 0
			w.runOutcome = func(RunRequest) v1alpha1.AnalysisPhase {
				attempts++
				if attempts == 1 {
					return v1alpha1.AnalysisPhaseFailed
				}
				return v1alpha1.AnalysisPhaseSuccessful
			}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("retry")
			w.ro.Status.Abort = false
			w.settle(time.Hour)
		},
		"canary-background-inconclusive-then-promote": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause("30s"), weight(50)}
			w.ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{
				RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "errors"}}},
			}
			attempts := 0
			w.runOutcome = func(RunRequest) v1alpha1.AnalysisPhase {
				attempts++
				if attempts == 1 {
					return v1alpha1.AnalysisPhaseInconclusive
				}
				return v1alpha1.AnalysisPhaseRunning
			}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"canary-set-canary-scale": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{
				{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr.To[int32](1)}}, weight(50), pause(""),
			}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
		},
		"canary-steps-changed-mid-rollout": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause(""), weight(50), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
			w.note("steps change to [75%%, pause]")
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(75), pause("")}
			w.ro.Generation++
			w.settle(time.Hour)
		},
		"canary-revision-history-limit": func(w *world) {
			w.ro.Spec.RevisionHistoryLimit = ptr.To[int32](1)
			w.ro.Spec.Strategy.Canary.Steps = nil
			w.settle(time.Minute)
			for _, img := range []string{"app:2", "app:3", "app:4"} {
				w.setImage(img)
				w.settle(time.Minute)
			}
		},
		"invalid-spec-then-fixed": func(w *world) {
			w.ro.Spec.Selector.MatchLabels = map[string]string{"app": "other"}
			w.settle(time.Minute)
			w.note("selector fixed")
			w.ro.Spec.Selector.MatchLabels = map[string]string{"app": "demo"}
			w.ro.Generation++
			w.settle(time.Minute)
		},
		"invalid-spec-unsupported-router": func(w *world) {
			w.ro.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Nginx: jsonRaw(`{"stableIngress":"x"}`)}
			w.settle(time.Minute)
		},
		"canary-argo-cd-skip-current-step": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause(""), weight(50), pause("10s")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("skip-current-step: currentStepIndex 2, pauseConditions null")
			w.ro.Status.CurrentStepIndex = ptr.To[int32](2)
			w.ro.Status.PauseConditions = nil
			w.settle(time.Hour)
		},
		"canary-step-index-out-of-range": func(w *world) {
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause(""), weight(50), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("currentStepIndex -3")
			w.ro.Status.CurrentStepIndex = ptr.To[int32](-3)
			w.settle(time.Hour)
			w.note("currentStepIndex 99")
			w.ro.Status.CurrentStepIndex = ptr.To[int32](99)
			w.settle(time.Hour)
		},
		"routed-canary-20-pause-60-pause": func(w *world) {
			w.ro.Spec.Strategy.Canary.TrafficRouting = gatewayRouting()
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(20), pause("2s"), weight(60), pause("2s")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
		},
		"routed-canary-abort": func(w *world) {
			w.ro.Spec.Strategy.Canary.TrafficRouting = gatewayRouting()
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(40), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("abort")
			w.ro.Status.Abort = true
			w.settle(time.Hour)
		},
		"routed-canary-route-not-accepted": func(w *world) {
			w.ro.Spec.Strategy.Canary.TrafficRouting = gatewayRouting()
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(20), pause("")}
			w.settle(time.Minute)
			w.routesRejected = true
			w.setImage("app:2")
			w.settle(time.Minute)
			w.note("the gateway accepts the route")
			w.routesRejected = false
			w.settle(time.Hour)
		},
		"routed-canary-dynamic-stable-scale": func(w *world) {
			w.ro.Spec.Strategy.Canary.TrafficRouting = gatewayRouting()
			w.ro.Spec.Strategy.Canary.DynamicStableScale = true
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"canary-set-weight-100-before-the-end": func(w *world) {
			// A step at 100% before the last: the old stable keeps one pod for the stable
			// Service through the pause, and the update still finishes.
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("1s"), weight(100), pause("1s")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
		},
		"canary-one-replica-max-surge-zero": func(w *world) {
			// One replica, no surge, one unavailable: the old pod goes before the new one
			// starts (the user's budget allows the gap), and the update finishes.
			surge, unavailable := intstr.FromInt32(0), intstr.FromInt32(1)
			w.ro.Spec.Replicas = ptr.To[int32](1)
			w.ro.Spec.Strategy.Canary.MaxSurge, w.ro.Spec.Strategy.Canary.MaxUnavailable = &surge, &unavailable
			w.ro.Spec.Strategy.Canary.Steps = nil
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
		},
		"canary-uneven-split-max-surge-zero": func(w *world) {
			// 3 replicas at 50% round to 2 + 2 pods: without surge the stable side gives one up.
			surge, unavailable := intstr.FromInt32(0), intstr.FromInt32(1)
			w.ro.Spec.Replicas = ptr.To[int32](3)
			w.ro.Spec.Strategy.Canary.MaxSurge, w.ro.Spec.Strategy.Canary.MaxUnavailable = &surge, &unavailable
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("1s")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
		},
		"canary-max-unavailable-all-max-surge-zero": func(w *world) {
			surge, unavailable := intstr.FromInt32(0), intstr.FromString("100%")
			w.ro.Spec.Replicas = ptr.To[int32](2)
			w.ro.Spec.Strategy.Canary.MaxSurge, w.ro.Spec.Strategy.Canary.MaxUnavailable = &surge, &unavailable
			w.ro.Spec.Strategy.Canary.Steps = nil
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
		},
		"canary-stable-replicaset-deleted-mid-update": func(w *world) {
			// Someone deletes the stable ReplicaSet at a pause: nothing is left to go back to,
			// the canary is made stable at once, and a Warning says so.
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause(""), analysisStep("smoke")}
			w.settle(time.Minute)
			stable := w.ro.Status.StableRS
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("the stable ReplicaSet is deleted")
			for i, rs := range w.rss {
				if podHash(rs) == stable {
					w.rss = append(w.rss[:i], w.rss[i+1:]...)
					break
				}
			}
			w.settle(time.Hour)
		},
		"routed-canary-update-during-update": func(w *world) {
			// A third version arrives while the second is at 40%: the second drains after its
			// scale-down delay, the routes send the canary share to the third once its pods are
			// available, and the stable version keeps its traffic throughout.
			w.ro.Spec.Strategy.Canary.TrafficRouting = gatewayRouting()
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(40), pause(""), weight(80), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.setImage("app:3")
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"routed-canary-dynamic-stable-scale-route-not-accepted": func(w *world) {
			// The gateway stops accepting weights after 50/50: the stable side keeps the pods
			// for the half of the traffic it still carries, and the canary is not promoted.
			w.ro.Spec.Strategy.Canary.TrafficRouting = gatewayRouting()
			w.ro.Spec.Strategy.Canary.DynamicStableScale = true
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("the gateway stops accepting weights")
			w.routesRejected = true
			w.promote()
			w.settle(time.Hour)
			w.note("the gateway accepts weights again")
			w.routesRejected = false
			w.settle(time.Hour)
		},
		"routed-canary-istio-subsets": func(w *world) {
			// Subset-level Istio routing: the canary subset follows the canary once it is
			// available and keeps it while the canary scales up for the next weight.
			w.ro.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{
				VirtualService:  &v1alpha1.IstioVirtualService{Name: "web"},
				DestinationRule: &v1alpha1.IstioDestinationRule{Name: "web", CanarySubsetName: "canary", StableSubsetName: "stable"},
			}}
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause(""), weight(75), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"routed-canary-header-and-mirror-routes": func(w *world) {
			w.ro.Spec.Strategy.Canary.TrafficRouting = gatewayRouting()
			w.ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes = []v1alpha1.ManagedRoute{{Name: "beta-users"}, {Name: "shadow"}}
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{
				{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta-users", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x-beta", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}}}}},
				{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "shadow", Percentage: ptr.To[int32](50), Match: []v1alpha1.RouteMatch{{Path: &v1alpha1.StringMatch{Prefix: "/"}}}}},
				pause(""),
				{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta-users"}},
				weight(50), pause(""),
			}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"canary-ephemeral-metadata": func(w *world) {
			w.ro.Spec.Strategy.Canary.CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}}
			w.ro.Spec.Strategy.Canary.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable"}}
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"canary-ephemeral-metadata-key-removed": func(w *world) {
			// The ReplicaSet records what was injected: a label dropped from stableMetadata
			// leaves the template (and the pods), and one added arrives.
			w.ro.Spec.Strategy.Canary.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable", "team": "web"}}
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("")}
			w.settle(time.Minute)
			w.note("team dropped from stableMetadata")
			w.ro.Spec.Strategy.Canary.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable"}}
			w.ro.Generation++
			w.settle(time.Minute)
			if _, ok := w.rss[0].Spec.Template.Labels["team"]; ok {
				w.t.Errorf("label team stays on the stable template after it left stableMetadata")
			}
		},
		"routed-canary-abort-then-retry": func(w *world) {
			// The aborted canary carries its scale-down deadline; the retry removes it before
			// the deadline, and the canary keeps its pods through the retried steps.
			w.ro.Spec.Strategy.Canary.TrafficRouting = gatewayRouting()
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(40), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("abort")
			w.ro.Status.Abort = true
			w.settle(10 * time.Second)
			w.note("retry")
			w.ro.Status.Abort = false
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"bluegreen-abort-then-retry": func(w *world) {
			// Preview stays on the aborted ReplicaSet while it waits out its deadline; a retry
			// cancels the deadline and pauses for promotion again (no instant rollback).
			w.ro = blueGreenRollout(3, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false)})
			w.init()
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("abort")
			w.ro.Status.Abort = true
			w.settle(10 * time.Second)
			w.note("retry")
			w.ro.Status.Abort = false
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"bluegreen-abort-scale-down-delay-zero": func(w *world) {
			// abortScaleDownDelaySeconds 0 keeps the aborted ReplicaSet, without a deadline,
			// and the preview Service on it.
			w.ro = blueGreenRollout(3, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false), AbortScaleDownDelaySeconds: ptr.To[int32](0)})
			w.init()
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("abort")
			w.ro.Status.Abort = true
			w.settle(time.Hour)
		},
		"bluegreen-scale-down-delay-revision-limit": func(w *world) {
			w.ro = blueGreenRollout(2, v1alpha1.BlueGreenStrategy{ScaleDownDelaySeconds: ptr.To[int32](60), ScaleDownDelayRevisionLimit: ptr.To[int32](1)})
			w.init()
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(5 * time.Second)
			w.setImage("app:3")
			w.settle(5 * time.Second)
			w.setImage("app:4")
			w.settle(time.Hour)
		},
		"bluegreen-update-during-post-promotion-analysis": func(w *world) {
			w.ro = blueGreenRollout(2, v1alpha1.BlueGreenStrategy{
				PostPromotionAnalysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}},
			})
			w.init()
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Minute)
			w.setImage("app:3")
			w.settle(time.Minute)
			w.note("abort")
			w.ro.Status.Abort = true
			w.settle(time.Hour)
		},
		"bluegreen-manual-promote": func(w *world) {
			w.ro = blueGreenRollout(3, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false)})
			w.init()
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"bluegreen-auto-promotion-seconds": func(w *world) {
			w.ro = blueGreenRollout(3, v1alpha1.BlueGreenStrategy{AutoPromotionSeconds: 20, ScaleDownDelaySeconds: ptr.To[int32](10)})
			w.init()
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
		},
		"bluegreen-auto-promotion": func(w *world) {
			w.ro = blueGreenRollout(3, v1alpha1.BlueGreenStrategy{})
			w.init()
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
		},
		"bluegreen-preview-replica-count": func(w *world) {
			w.ro = blueGreenRollout(4, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false), PreviewReplicaCount: ptr.To[int32](1)})
			w.init()
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"bluegreen-abort": func(w *world) {
			w.ro = blueGreenRollout(3, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false)})
			w.init()
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("abort")
			w.ro.Status.Abort = true
			w.settle(time.Hour)
		},
		"bluegreen-instant-rollback-in-delay-window": func(w *world) {
			w.ro = blueGreenRollout(3, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false)})
			w.init()
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.promote()
			w.settle(5 * time.Second)
			w.setImage("app:1")
			w.settle(time.Hour)
		},
		"canary-undo-defaulted-template": func(w *world) {
			// `kubectl argo rollouts undo` copies the old ReplicaSet's stored (defaulted) template
			// into the Rollout: its hash differs, its ReplicaSet is reused and renumbered.
			w.apiDefaults = true
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(50), pause("1s")}
			w.settle(time.Minute)
			first := w.ro.Status.StableRS
			w.setImage("app:2")
			w.settle(time.Hour)
			w.undo(first)
			w.settle(time.Hour)
		},
		"canary-hash-function-changes-mid-update": func(w *world) {
			// A new hash function (a k8s.io/api upgrade that encodes templates differently) finds
			// the same ReplicaSets by their templates: no new ReplicaSet, the update goes on.
			w.apiDefaults = true
			w.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{weight(25), pause("")}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			w.note("the hash function changes")
			w.hash = otherHash
			w.settle(time.Hour)
			w.promote()
			w.settle(time.Hour)
		},
		"bluegreen-undo-defaulted-template-in-delay-window": func(w *world) {
			// Undo inside the scale-down window is an instant rollback: the old ReplicaSet is
			// still up, no new pods, no promotion pause.
			w.ro = blueGreenRollout(3, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false)})
			w.init()
			w.apiDefaults = true
			w.settle(time.Minute)
			first := w.ro.Status.StableRS
			w.setImage("app:2")
			w.settle(time.Hour)
			w.promote()
			w.settle(5 * time.Second)
			w.undo(first)
			w.settle(time.Hour)
		},
		"bluegreen-prepromotion-analysis-fails": func(w *world) {
			w.ro = blueGreenRollout(3, v1alpha1.BlueGreenStrategy{
				PrePromotionAnalysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}},
			})
			w.init()
			w.runOutcome = func(RunRequest) v1alpha1.AnalysisPhase { return v1alpha1.AnalysisPhaseFailed }
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
		},
	}
	for name, run := range scenarios {
		t.Run(name, func(t *testing.T) {
			ro := canaryRollout(4, weight(25), pause("2s"), weight(50), pause("2s"))
			w := newWorld(t, ro, "demo-canary", "demo-stable")
			run(w)
			w.golden(name)
		})
		// The same scenario in a misbehaving world (lagging ReplicaSet status, routes that do
		// not take a weight for a round, lost status writes, executions that fail part-way),
		// under seeded random orders: the invariants hold after every step, and once the faults
		// stop the Rollout settles where the scenario says.
		for seed := uint64(1); seed <= faultSeeds; seed++ {
			t.Run(fmt.Sprintf("%s/faults-%d", name, seed), func(t *testing.T) {
				ro := canaryRollout(4, weight(25), pause("2s"), weight(50), pause("2s"))
				w := newWorld(t, ro, "demo-canary", "demo-stable")
				w.faults = rand.New(rand.NewPCG(seed, 0x5eed))
				run(w)
				w.faults = nil
				w.settle(time.Hour)
				want := finalState(t, name)
				if got := w.last; got != want {
					t.Errorf("with faults (seed %d) the Rollout settled at\n  %s\nwant\n  %s\n%s", seed, got, want, w.log.String())
				}
			})
		}
	}
}

// faultSeeds is how many seeded fault orders each scenario is replayed under.
const faultSeeds = 4

// finalState is the last state line of a scenario's golden file, without its time.
func finalState(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
	if err != nil {
		t.Fatal(err)
	}
	last := ""
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, " phase=") {
			last = line
		}
	}
	return stripTime(last)
}

// stripTime drops the leading simulated time of a state line.
func stripTime(line string) string {
	line = strings.TrimSpace(line)
	if i := strings.Index(line, " "); i >= 0 {
		return line[i+1:]
	}
	return line
}

// init resets the world after a scenario replaced the Rollout.
func (w *world) init() {
	fresh := newWorld(w.t, w.ro, "demo-active", "demo-preview")
	*w = *fresh
}

func jsonRaw(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(s)} }

func gatewayRouting() *v1alpha1.RolloutTrafficRouting {
	return &v1alpha1.RolloutTrafficRouting{Plugins: map[string]apiextensionsv1.JSON{
		v1alpha1.GatewayAPIPluginName: {Raw: []byte(`{"httpRoute":"web"}`)},
	}}
}
