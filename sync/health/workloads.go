package health

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The workload rules follow gitops-engine, whose checks come from `kubectl rollout status`: a
// workload is Healthy once its controller has observed the current spec and every desired pod runs
// the current template and is available. spec.replicas defaults to 1, as the API server defaults it.

const notObserved = "waiting for rollout to be observed"

// deploymentHealth: paused is Suspended (before anything else, as in Argo CD); an unobserved spec
// is Progressing; a Progressing condition with reason ProgressDeadlineExceeded is Degraded; then
// the replica counts decide.
func deploymentHealth(obj *unstructured.Unstructured) Result {
	if boolField(obj, "spec", "paused") {
		return suspended("Deployment is paused")
	}
	if observedBehind(obj) {
		return progressing(notObserved)
	}
	if c, ok := find(conditions(obj), "Progressing"); ok && c.Reason == "ProgressDeadlineExceeded" {
		return degraded(fmt.Sprintf("Deployment %q exceeded its progress deadline", obj.GetName()))
	}
	desired := intField(obj, 1, "spec", "replicas")
	replicas := intField(obj, 0, "status", "replicas")
	updated := intField(obj, 0, "status", "updatedReplicas")
	available := intField(obj, 0, "status", "availableReplicas")
	switch {
	case updated < desired:
		return progressing(fmt.Sprintf("Waiting for rollout to finish: %d out of %d new replicas have been updated...", updated, desired))
	case replicas > updated:
		return progressing(fmt.Sprintf("Waiting for rollout to finish: %d old replicas are pending termination...", replicas-updated))
	case available < updated:
		return progressing(fmt.Sprintf("Waiting for rollout to finish: %d of %d updated replicas are available...", available, updated))
	}
	return healthy("")
}

// statefulSetHealth: an unobserved spec or too few ready pods is Progressing. OnDelete is then
// Healthy (pods change only when someone deletes them). A partitioned rolling update is Healthy
// once the pods at or above the partition are updated. Any other rolling update is Healthy once
// the current revision is the update revision.
func statefulSetHealth(obj *unstructured.Unstructured) Result {
	if observedBehind(obj) {
		return progressing(notObserved)
	}
	desired := intField(obj, 1, "spec", "replicas")
	ready := intField(obj, 0, "status", "readyReplicas")
	if ready < desired {
		return progressing(fmt.Sprintf("Waiting for %d pods to be ready...", desired-ready))
	}
	if stringField(obj, "spec", "updateStrategy", "type") == "OnDelete" {
		return healthy(fmt.Sprintf("statefulset has %d ready pods", ready))
	}
	updated := intField(obj, 0, "status", "updatedReplicas")
	if partition := intField(obj, 0, "spec", "updateStrategy", "rollingUpdate", "partition"); partition > 0 {
		want := max(desired-partition, 0)
		if updated < want {
			return progressing(fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...", updated, want))
		}
		return healthy(fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...", updated))
	}
	current := stringField(obj, "status", "currentRevision")
	update := stringField(obj, "status", "updateRevision")
	if update != current {
		return progressing(fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...", updated, update))
	}
	return healthy("")
}

// daemonSetHealth: an unobserved spec is Progressing; OnDelete is then Healthy; otherwise every
// scheduled pod must be updated and available.
func daemonSetHealth(obj *unstructured.Unstructured) Result {
	if observedBehind(obj) {
		return progressing(notObserved)
	}
	desired := intField(obj, 0, "status", "desiredNumberScheduled")
	updated := intField(obj, 0, "status", "updatedNumberScheduled")
	available := intField(obj, 0, "status", "numberAvailable")
	if stringField(obj, "spec", "updateStrategy", "type") == "OnDelete" {
		return healthy(fmt.Sprintf("daemon set %d out of %d new pods have been updated", updated, desired))
	}
	name := obj.GetName()
	if updated < desired {
		return progressing(fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...", name, updated, desired))
	}
	if available < desired {
		return progressing(fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...", name, available, desired))
	}
	return healthy("")
}

// replicaSetHealth: an unobserved spec is Progressing; a ReplicaFailure condition that is True
// (pods cannot be created: quota, admission) is Degraded; too few available pods is Progressing.
func replicaSetHealth(obj *unstructured.Unstructured) Result {
	if observedBehind(obj) {
		return progressing(notObserved)
	}
	if c, ok := find(conditions(obj), "ReplicaFailure"); ok && c.isTrue() {
		return degraded(c.text())
	}
	desired := intField(obj, 1, "spec", "replicas")
	available := intField(obj, 0, "status", "availableReplicas")
	if available < desired {
		return progressing(fmt.Sprintf("Waiting for rollout to finish: %d out of %d new replicas are available...", available, desired))
	}
	return healthy("")
}
