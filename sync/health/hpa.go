package health

import (
	"encoding/json"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// v1ConditionsAnnotation is where autoscaling/v1 carries the HPA conditions that only v2 has as
// a status field.
const v1ConditionsAnnotation = "autoscaling.alpha.kubernetes.io/conditions"

// hpaHealth judges a HorizontalPodAutoscaler by its conditions (status.conditions in v2, the
// conditions annotation in v1). gitops-engine is Degraded on AbleToScale FailedGetScale or
// FailedUpdateScale and ScalingActive FailedGetResourceMetric or InvalidSelector; this rule
// widens that to the families the HPA controller uses:
//
//   - no conditions yet: Progressing, "Waiting to Autoscale";
//   - AbleToScale or ScalingActive False with a reason starting FailedGet, FailedUpdate,
//     FailedCompute or Invalid: Degraded with the condition's message;
//   - ScalingActive False with reason ScalingDisabled (the target is scaled to zero): Suspended;
//   - AbleToScale or ScalingActive not True for any other reason (a backoff window, say):
//     Progressing with the message;
//   - otherwise Healthy (ScalingLimited True, at the minimum or maximum, is still Healthy).
func hpaHealth(obj *unstructured.Unstructured) Result {
	conds := hpaConditions(obj)
	if len(conds) == 0 {
		return progressing("Waiting to Autoscale")
	}
	for _, c := range conds {
		if (c.Type == "AbleToScale" || c.Type == "ScalingActive") && c.isFalse() && hpaFailure(c.Reason) {
			return degraded(c.text())
		}
	}
	if c, ok := find(conds, "ScalingActive"); ok && c.isFalse() && c.Reason == "ScalingDisabled" {
		return suspended(c.text())
	}
	for _, t := range []string{"AbleToScale", "ScalingActive"} {
		if c, ok := find(conds, t); ok && !c.isTrue() {
			return progressing(c.text())
		}
	}
	return healthy("")
}

func hpaFailure(reason string) bool {
	for _, prefix := range []string{"FailedGet", "FailedUpdate", "FailedCompute", "Invalid"} {
		if strings.HasPrefix(reason, prefix) {
			return true
		}
	}
	return false
}

// hpaConditions reads status.conditions, or for an autoscaling/v1 object the JSON list in the
// conditions annotation. An annotation that does not parse counts as no conditions.
func hpaConditions(obj *unstructured.Unstructured) []condition {
	if conds := conditions(obj); len(conds) > 0 {
		return conds
	}
	raw, ok := obj.GetAnnotations()[v1ConditionsAnnotation]
	if !ok {
		return nil
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return nil
	}
	return toConditions(list)
}
