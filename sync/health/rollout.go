package health

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	rollouts "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// The Rollout rule maps argoproj.io/Rollout status the way Argo CD's Rollout health check does.
// Argo Rollouts 1.0 and later (and sluice) record status.phase and status.message, which map
// directly, Paused becoming Suspended. Older rollouts have no phase; for them the health is worked
// out from conditions, pauses and replica counts as Argo CD did before 1.0.

const rolloutNotObserved = "waiting for rollout spec update to be observed"

// workloadGenerationAnnotation carries the generation of a Rollout's referenced workload.
const workloadGenerationAnnotation = "rollout.argoproj.io/workload-generation"

// rolloutHealth: an InvalidSpec condition is Degraded; an unobserved spec (or referenced workload)
// is Progressing; then the phase decides, or for a rollout without a phase the legacy rule.
func rolloutHealth(obj *unstructured.Unstructured) Result {
	conds := conditions(obj)
	if c, ok := find(conds, "InvalidSpec"); ok && !c.isFalse() {
		return degraded(c.text())
	}
	if !rolloutObserved(obj) {
		return progressing(rolloutNotObserved)
	}
	msg := stringField(obj, "status", "message")
	switch phase := rollouts.RolloutPhase(stringField(obj, "status", "phase")); phase {
	case "":
		return legacyRolloutHealth(obj, conds)
	case rollouts.RolloutPhasePaused:
		if msg == "" {
			msg = "Rollout is paused"
		}
		return suspended(msg)
	case rollouts.RolloutPhaseHealthy:
		return healthy(msg)
	case rollouts.RolloutPhaseProgressing:
		return progressing(msg)
	case rollouts.RolloutPhaseDegraded:
		return degraded(msg)
	default:
		return Result{Status: v1alpha1.HealthUnknown, Message: "unknown rollout phase " + string(phase)}
	}
}

// rolloutObserved reports whether the controller has seen the current spec. status.observedGeneration
// is a string: a number in Rollouts 0.10 and later, a hash before. A hash, or a number above
// metadata.generation (a hash made of digits), cannot be compared and counts as observed. A
// rollout without status has not been observed. With spec.workloadRef, the workload generation
// recorded in the annotation must also match status.workloadObservedGeneration.
func rolloutObserved(obj *unstructured.Unstructured) bool {
	if field(obj, "status") == nil {
		return false
	}
	gen := generation(obj)
	if observed, ok := parseGeneration(stringField(obj, "status", "observedGeneration")); ok && observed < gen {
		return false
	}
	if field(obj, "spec", "workloadRef") == nil {
		return true
	}
	want, ok := obj.GetAnnotations()[workloadGenerationAnnotation]
	if !ok {
		return true
	}
	wantGen, okWant := parseGeneration(want)
	seenGen, okSeen := parseGeneration(stringField(obj, "status", "workloadObservedGeneration"))
	return okWant && okSeen && wantGen == seenGen
}

// legacyRolloutHealth is the rule for rollouts without status.phase: an aborted update or an
// exceeded progress deadline is Degraded, a pause is Suspended, then replicas and the strategy's
// cut-over decide.
func legacyRolloutHealth(obj *unstructured.Unstructured, conds []condition) Result {
	if c, ok := find(conds, "Progressing"); ok && (c.Reason == "RolloutAborted" || c.Reason == "ProgressDeadlineExceeded") {
		return degraded(c.text())
	}
	if len(maps(obj, "status", "pauseConditions")) > 0 || boolField(obj, "spec", "paused") {
		return suspended("Rollout is paused")
	}
	podHash := stringField(obj, "status", "currentPodHash")
	if podHash == "" {
		return progressing("Waiting for rollout to finish: status has not been reconciled.")
	}
	desired := intField(obj, 1, "spec", "replicas")
	replicas := intField(obj, 0, "status", "replicas")
	updated := intField(obj, 0, "status", "updatedReplicas")
	available := intField(obj, 0, "status", "availableReplicas")
	if updated < desired {
		return progressing("Waiting for roll out to finish: More replicas need to be updated")
	}
	if available < updated {
		return progressing("Waiting for roll out to finish: updated replicas are still becoming available")
	}
	stable := stringField(obj, "status", "stableRS")
	if stable == "" {
		stable = stringField(obj, "status", "canary", "stableRS") // before Rollouts 0.8
	}
	switch {
	case field(obj, "spec", "strategy", "blueGreen") != nil:
		if stringField(obj, "status", "blueGreen", "activeSelector") != podHash {
			return progressing("active service cutover pending")
		}
		if stable != "" && stable != podHash {
			return progressing("waiting for analysis to complete")
		}
	case field(obj, "spec", "strategy", "canary") != nil:
		if replicas > updated {
			return progressing("Waiting for roll out to finish: old replicas are pending termination")
		}
		if stable != podHash {
			return progressing("Waiting for rollout to finish steps")
		}
	}
	return healthy("")
}
