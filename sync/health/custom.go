package health

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

const crdNotEstablished = "waiting for the CRD to be established"

// crdHealth: a CRD being deleted (Terminating True) is Progressing; names the API server refused
// (NamesAccepted False) or a schema that is not structural (NonStructuralSchema True) are
// Degraded; Established True is Healthy; anything else, a CRD just created included, is
// Progressing. gitops-engine calls a CRD that is not established Degraded; establishing takes a
// moment after creation, and a GitSync waiting on a CRD's wave should wait, not fail.
func crdHealth(obj *unstructured.Unstructured) Result {
	conds := conditions(obj)
	if c, ok := find(conds, "Terminating"); ok && c.isTrue() {
		return progressing(withDetail("CRD is being terminated", c.text()))
	}
	if c, ok := find(conds, "NamesAccepted"); ok && c.isFalse() {
		return degraded(withDetail("CRD names have not been accepted", c.text()))
	}
	if c, ok := find(conds, "NonStructuralSchema"); ok && c.isTrue() {
		return degraded(withDetail("CRD schema is not structural", c.text()))
	}
	c, ok := find(conds, "Established")
	if ok && c.isTrue() {
		return healthy("")
	}
	return progressing(withDetail(crdNotEstablished, c.text()))
}

// withDetail is "<what>: <detail>", or what alone when there is no detail.
func withDetail(what, detail string) string {
	if detail == "" {
		return what
	}
	return what + ": " + detail
}

// gitSyncHealth is the app-of-apps rule: a GitSync is as healthy as the objects it syncs. An
// unobserved spec is Progressing, and so is a sync operation that is running (the objects are
// about to change, so their last health is stale); a Stalled one (a render that fails, retries
// used up) is Degraded; otherwise status.health is surfaced as is. A
// GitSync that has not reported health yet falls back to its Ready condition.
func gitSyncHealth(obj *unstructured.Unstructured) Result {
	if observedBehind(obj) {
		return progressing("waiting for the GitSync spec to be observed")
	}
	if stringField(obj, "status", "operationState", "phase") == v1alpha1.OperationRunning {
		return progressing(withDetail("sync is running", stringField(obj, "status", "operationState", "message")))
	}
	if c, ok := find(conditions(obj), "Stalled"); ok && c.isTrue() {
		// A child that cannot render or has used up its retries will not converge on its own,
		// whatever the health of what it applied before.
		return degraded(withDetail("GitSync is stalled", c.text()))
	}
	if specNotSynced(obj) {
		// The health in status is of the objects the old spec applied.
		detail := ""
		if c, ok := find(conditions(obj), "Ready"); ok && c.isFalse() {
			detail = c.text()
		}
		return progressing(withDetail("the GitSync's new spec has not been synced yet", detail))
	}
	if status := stringField(obj, "status", "health", "status"); status != "" {
		return Result{Status: canonical(status), Message: stringField(obj, "status", "health", "message")}
	}
	if res, ok := readyConditionHealth(obj); ok {
		return res
	}
	return progressing("waiting for the GitSync to report health")
}

// specNotSynced reports whether an automated GitSync's last operation ran under an older spec
// (status.operationState.generation below metadata.generation): a spec change whose first
// reconciles failed (Git unreachable) would otherwise show the old objects' health. A manual or
// suspended GitSync is left out: its new spec waits for a person, and its objects' health is still
// theirs.
func specNotSynced(obj *unstructured.Unstructured) bool {
	if _, automated, _ := unstructured.NestedMap(obj.Object, "spec", "syncPolicy", "automated"); !automated {
		return false
	}
	if suspended, _, _ := unstructured.NestedBool(obj.Object, "spec", "suspend"); suspended {
		return false // no operation runs while suspended; its own rule says Suspended
	}
	opGen, ok := optionalInt(obj, "status", "operationState", "generation")
	return ok && opGen > 0 && opGen < generation(obj)
}

// readyConditionHealth judges an object of a kind without its own rule by its Ready condition,
// the convention of cert-manager, External Secrets, Flux, Crossplane and sluice itself. ok is false
// when the object has no Ready condition. In order:
//
//   - status.observedGeneration, or the Ready condition's observedGeneration, below
//     metadata.generation: Progressing (the condition describes an older spec);
//   - Stalled True (the kstatus convention): Degraded;
//   - Ready True: Healthy;
//   - Ready False with reason Suspended: Suspended;
//   - Ready False while Reconciling or Issuing (cert-manager) is True, or with a reason that says
//     work is under way (see inProgressReason): Progressing;
//   - Ready False otherwise: Degraded;
//   - Ready Unknown (or empty): Progressing.
//
// Messages are the deciding condition's message, or its reason when it has none.
func readyConditionHealth(obj *unstructured.Unstructured) (Result, bool) {
	conds := conditions(obj)
	ready, ok := find(conds, "Ready")
	if !ok {
		return Result{}, false
	}
	gen := generation(obj)
	if observed, ok := optionalInt(obj, "status", "observedGeneration"); ok && observed < gen {
		return progressing("waiting for the spec update to be observed"), true
	}
	if ready.HasObservedGeneration && ready.ObservedGeneration < gen {
		return progressing("waiting for the spec update to be observed"), true
	}
	if c, ok := find(conds, "Stalled"); ok && c.isTrue() {
		return degraded(c.text()), true
	}
	switch {
	case ready.isTrue():
		return healthy(ready.Message), true
	case ready.isFalse():
		return readyFalseHealth(conds, ready), true
	}
	return progressing(withDetail("waiting for Ready", ready.text())), true
}

// readyFalseHealth is the health of an object whose Ready condition is False.
func readyFalseHealth(conds []condition, ready condition) Result {
	if ready.Reason == v1alpha1.ReasonSuspended {
		return suspended(ready.text())
	}
	for _, t := range []string{"Reconciling", "Issuing"} {
		if c, ok := find(conds, t); ok && c.isTrue() {
			return progressing(c.text())
		}
	}
	if inProgressReason(ready.Reason) {
		return progressing(ready.text())
	}
	return degraded(ready.text())
}

// inProgressReasons are Ready False reasons that mean "not yet" rather than "failed", compared
// without case. Reasons starting with Waiting or Pending count too (WaitingForDependencies).
var inProgressReasons = map[string]bool{
	"progressing":        true,
	"reconciling":        true,
	"inprogress":         true,
	"pending":            true,
	"provisioning":       true,
	"creating":           true,
	"updating":           true,
	"initializing":       true,
	"issuing":            true,
	"dependencynotready": true,
}

func inProgressReason(reason string) bool {
	r := strings.ToLower(reason)
	return inProgressReasons[r] || strings.HasPrefix(r, "waiting") || strings.HasPrefix(r, "pending")
}
