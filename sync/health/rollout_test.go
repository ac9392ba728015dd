package health

import (
	"testing"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

func TestRolloutWithPhase(t *testing.T) {
	run(t, []testCase{
		{name: "healthy", status: v1alpha1.HealthHealthy, live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 3}
status: {observedGeneration: "3", phase: Healthy, currentPodHash: 5d8f, stableRS: 5d8f}
`},
		{name: "paused at a step", status: v1alpha1.HealthSuspended, message: "CanaryPauseStep", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 3}
status:
  observedGeneration: "3"
  phase: Paused
  message: CanaryPauseStep
  pauseConditions: [{reason: CanaryPauseStep, startTime: "2026-01-02T03:04:05Z"}]
`},
		{name: "paused without a message", status: v1alpha1.HealthSuspended, message: "Rollout is paused", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 3}
status: {observedGeneration: "3", phase: Paused}
`},
		{name: "degraded", status: v1alpha1.HealthDegraded, message: "RolloutAborted: Rollout aborted update to revision 4", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 3}
status: {observedGeneration: "3", phase: Degraded, message: "RolloutAborted: Rollout aborted update to revision 4"}
`},
		{name: "progressing", status: v1alpha1.HealthProgressing, message: "more replicas need to be updated", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 3}
status: {observedGeneration: "3", phase: Progressing, message: "more replicas need to be updated"}
`},
		{name: "spec not observed", status: v1alpha1.HealthProgressing, message: "waiting for rollout spec update to be observed", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 4}
status: {observedGeneration: "3", phase: Healthy}
`},
		{name: "no status at all", status: v1alpha1.HealthProgressing, message: "to be observed", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 1}
spec: {replicas: 2}
`},
		{name: "hash observedGeneration of an old controller counts as observed", status: v1alpha1.HealthHealthy, live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 4}
status: {observedGeneration: 7d9c8f6b5, phase: Healthy}
`},
		{name: "invalid spec wins over the phase", status: v1alpha1.HealthDegraded, message: "spec.strategy.canary.trafficRouting.nginx is not supported", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 4}
status:
  observedGeneration: "3"
  phase: Progressing
  conditions:
  - {type: InvalidSpec, status: "True", reason: InvalidSpec, message: "spec.strategy.canary.trafficRouting.nginx is not supported"}
`},
		{name: "workload reference not observed", status: v1alpha1.HealthProgressing, message: "to be observed", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
  generation: 2
  annotations: {rollout.argoproj.io/workload-generation: "5"}
spec: {workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web}}
status: {observedGeneration: "2", workloadObservedGeneration: "4", phase: Healthy}
`},
		{name: "unknown phase", status: v1alpha1.HealthUnknown, message: "Exploding", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 1}
status: {observedGeneration: "1", phase: Exploding}
`},
	})
}

func TestRolloutWithoutPhase(t *testing.T) {
	run(t, []testCase{
		{name: "aborted", status: v1alpha1.HealthDegraded, message: "aborted update", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 2}
spec: {strategy: {canary: {}}}
status:
  observedGeneration: "2"
  abort: true
  conditions: [{type: Progressing, status: "False", reason: RolloutAborted, message: Rollout aborted update to revision 2}]
`},
		{name: "progress deadline exceeded", status: v1alpha1.HealthDegraded, message: "timed out", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 2}
spec: {strategy: {canary: {}}}
status:
  observedGeneration: "2"
  conditions: [{type: Progressing, status: "False", reason: ProgressDeadlineExceeded, message: ReplicaSet "web-5d8f" has timed out progressing.}]
`},
		{name: "paused by the controller", status: v1alpha1.HealthSuspended, message: "Rollout is paused", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 2}
spec: {strategy: {canary: {}}}
status:
  observedGeneration: "2"
  currentPodHash: 6c7d
  pauseConditions: [{reason: CanaryPauseStep, startTime: "2026-01-02T03:04:05Z"}]
`},
		{name: "paused by the user", status: v1alpha1.HealthSuspended, live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 2}
spec: {paused: true, strategy: {canary: {}}}
status: {observedGeneration: "2", currentPodHash: 6c7d}
`},
		{name: "not reconciled", status: v1alpha1.HealthProgressing, message: "status has not been reconciled", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 2}
spec: {strategy: {canary: {}}}
status: {observedGeneration: "2"}
`},
		{name: "canary steps under way", status: v1alpha1.HealthProgressing, message: "finish steps", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 2}
spec: {replicas: 2, strategy: {canary: {}}}
status: {observedGeneration: "2", currentPodHash: 6c7d, stableRS: 5d8f, replicas: 2, updatedReplicas: 2, availableReplicas: 2}
`},
		{name: "canary old replicas", status: v1alpha1.HealthProgressing, message: "old replicas are pending termination", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 2}
spec: {replicas: 2, strategy: {canary: {}}}
status: {observedGeneration: "2", currentPodHash: 6c7d, stableRS: 6c7d, replicas: 3, updatedReplicas: 2, availableReplicas: 2}
`},
		{name: "canary done", status: v1alpha1.HealthHealthy, live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 2}
spec: {replicas: 2, strategy: {canary: {}}}
status: {observedGeneration: "2", currentPodHash: 6c7d, stableRS: 6c7d, replicas: 2, updatedReplicas: 2, availableReplicas: 2}
`},
		{name: "blue-green cut-over pending", status: v1alpha1.HealthProgressing, message: "active service cutover pending", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 2}
spec: {replicas: 2, strategy: {blueGreen: {activeService: web}}}
status: {observedGeneration: "2", currentPodHash: 6c7d, stableRS: 5d8f, replicas: 4, updatedReplicas: 2, availableReplicas: 2, blueGreen: {activeSelector: 5d8f}}
`},
		{name: "blue-green done", status: v1alpha1.HealthHealthy, live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 2}
spec: {replicas: 2, strategy: {blueGreen: {activeService: web}}}
status: {observedGeneration: "2", currentPodHash: 6c7d, stableRS: 6c7d, replicas: 4, updatedReplicas: 2, availableReplicas: 2, blueGreen: {activeSelector: 6c7d}}
`},
		{name: "replicas becoming available", status: v1alpha1.HealthProgressing, message: "still becoming available", live: `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, generation: 2}
spec: {replicas: 2, strategy: {canary: {}}}
status: {observedGeneration: "2", currentPodHash: 6c7d, stableRS: 6c7d, replicas: 2, updatedReplicas: 2, availableReplicas: 1}
`},
	})
}
