package health

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// podHealth follows gitops-engine's Pod check. A pod that restarts forever (restartPolicy Always,
// the default) is Degraded as soon as a container waits for a reason that will not pass on its
// own (ErrImagePull, ImagePullBackOff, CrashLoopBackOff, CreateContainerConfigError, ...). Pods
// that run to completion (OnFailure, Never) are usually hooks: they are never Degraded while they
// wait, because the cause (a missing image, say) may be fixed and the hook would then run after a
// sync had already failed; they are Progressing until they succeed or fail.
func podHealth(obj *unstructured.Unstructured) Result {
	always := restartPolicy(obj) == "Always"
	phase := stringField(obj, "status", "phase")
	if always && phase != "Succeeded" && phase != "Failed" {
		if msg := waitingFailures(containerStatuses(obj)); msg != "" {
			return degraded(msg)
		}
	}
	message := stringField(obj, "status", "message")
	switch phase {
	case "Pending", "":
		return progressing(pendingMessage(obj))
	case "Succeeded":
		return healthy(message)
	case "Failed":
		return degraded(failedMessage(obj))
	case "Running":
		return runningPodHealth(obj, always)
	}
	if message == "" {
		message = fmt.Sprintf("pod phase is %s", phase)
	}
	return Result{Status: v1alpha1.HealthUnknown, Message: message}
}

// runningPodHealth: a pod of restartPolicy Always is Healthy when Ready, Degraded when not Ready
// after a container has terminated (it restarted), else Progressing. Other pods are Progressing
// until they finish.
func runningPodHealth(obj *unstructured.Unstructured, always bool) Result {
	message := stringField(obj, "status", "message")
	if !always {
		return progressing(message)
	}
	if c, ok := find(conditions(obj), "Ready"); ok && c.isTrue() {
		return healthy(message)
	}
	for _, cs := range maps(obj, "status", "containerStatuses") {
		if last := nested(cs, "lastState", "terminated"); last != nil {
			return degraded(fmt.Sprintf("container %q restarted (%s) and is not ready", str(cs, "name"), terminationText(last)))
		}
	}
	if message == "" {
		message = "waiting for the pod to be ready"
	}
	return progressing(message)
}

func restartPolicy(obj *unstructured.Unstructured) string {
	if p := stringField(obj, "spec", "restartPolicy"); p != "" {
		return p
	}
	return "Always"
}

// containerStatuses are the init containers' statuses, then the app containers'.
func containerStatuses(obj *unstructured.Unstructured) []map[string]any {
	return append(maps(obj, "status", "initContainerStatuses"), maps(obj, "status", "containerStatuses")...)
}

// waitingFailures describes the containers waiting for a reason that names an error, joined by
// "; ", or is "" when none does. Init containers count: one in CrashLoopBackOff keeps the pod
// Pending for ever.
func waitingFailures(statuses []map[string]any) string {
	var out []string
	for _, cs := range statuses {
		waiting := nested(cs, "state", "waiting")
		if waiting == nil || !failureReason(str(waiting, "reason")) {
			continue
		}
		text := fmt.Sprintf("container %q: %s", str(cs, "name"), str(waiting, "reason"))
		if msg := str(waiting, "message"); msg != "" {
			text += ": " + msg
		}
		out = append(out, text)
	}
	return strings.Join(out, "; ")
}

// failureReason reports whether a container's waiting reason is an error rather than a step
// (ContainerCreating, PodInitializing): the kubelet names those Err*, *Error and *BackOff.
func failureReason(reason string) bool {
	return strings.HasPrefix(reason, "Err") || strings.HasSuffix(reason, "Error") ||
		strings.HasSuffix(reason, "BackOff") || reason == "InvalidImageName"
}

// pendingMessage is status.message, else why the pod is not scheduled, else the first waiting
// reason.
func pendingMessage(obj *unstructured.Unstructured) string {
	if msg := stringField(obj, "status", "message"); msg != "" {
		return msg
	}
	if c, ok := find(conditions(obj), "PodScheduled"); ok && c.isFalse() {
		return c.text()
	}
	for _, cs := range containerStatuses(obj) {
		if waiting := nested(cs, "state", "waiting"); waiting != nil && str(waiting, "reason") != "" {
			return fmt.Sprintf("container %q: %s", str(cs, "name"), str(waiting, "reason"))
		}
	}
	return "pod is pending"
}

// failedMessage is status.message, else the first container that terminated with a message, an
// OOM kill or a non-zero exit code.
func failedMessage(obj *unstructured.Unstructured) string {
	if msg := stringField(obj, "status", "message"); msg != "" {
		return msg
	}
	for _, cs := range containerStatuses(obj) {
		term := nested(cs, "state", "terminated")
		if term == nil {
			continue
		}
		if code, _ := asInt(term["exitCode"]); str(term, "message") != "" || str(term, "reason") == "OOMKilled" || code != 0 {
			return fmt.Sprintf("container %q: %s", str(cs, "name"), terminationText(term))
		}
	}
	return "pod failed"
}

// terminationText is a terminated state's message, else its reason, else its exit code.
func terminationText(term map[string]any) string {
	if msg := str(term, "message"); msg != "" {
		return msg
	}
	code, _ := asInt(term["exitCode"])
	if reason := str(term, "reason"); reason != "" {
		return fmt.Sprintf("%s, exit code %d", reason, code)
	}
	return fmt.Sprintf("exit code %d", code)
}

// jobHealth: a Failed (or FailureTarget, the job controller's decision to fail while it removes
// pods) condition that is True is Degraded; a Complete condition that is True is Healthy; a
// suspended job is Suspended; anything else is running.
func jobHealth(obj *unstructured.Unstructured) Result {
	conds := conditions(obj)
	for _, t := range []string{"Failed", "FailureTarget"} {
		if c, ok := find(conds, t); ok && c.isTrue() {
			if text := c.text(); text != "" {
				return degraded(text)
			}
			return degraded("job failed")
		}
	}
	if c, ok := find(conds, "Complete"); ok && c.isTrue() {
		return healthy(c.Message)
	}
	if boolField(obj, "spec", "suspend") {
		return suspended("job is suspended")
	}
	return progressing(fmt.Sprintf("job is running: %d active", intField(obj, 0, "status", "active")))
}
