package health

import (
	"testing"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

func TestDeployment(t *testing.T) {
	run(t, []testCase{
		{name: "rolled out", status: v1alpha1.HealthHealthy, live: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 4}
spec: {replicas: 3}
status: {observedGeneration: 4, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3}
`},
		{name: "spec not observed", status: v1alpha1.HealthProgressing, message: "waiting for rollout to be observed", live: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 5}
spec: {replicas: 3}
status: {observedGeneration: 4, replicas: 3, updatedReplicas: 3, availableReplicas: 3}
`},
		{name: "paused", status: v1alpha1.HealthSuspended, message: "paused", live: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 5}
spec: {replicas: 3, paused: true}
status: {observedGeneration: 4}
`},
		{name: "progress deadline exceeded", status: v1alpha1.HealthDegraded, message: `"web" exceeded its progress deadline`, live: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 2}
spec: {replicas: 3}
status:
  observedGeneration: 2
  replicas: 4
  updatedReplicas: 1
  availableReplicas: 3
  conditions:
  - {type: Available, status: "True", reason: MinimumReplicasAvailable}
  - {type: Progressing, status: "False", reason: ProgressDeadlineExceeded}
`},
		{name: "replicas being updated", status: v1alpha1.HealthProgressing, message: "1 out of 3 new replicas have been updated", live: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 2}
spec: {replicas: 3}
status: {observedGeneration: 2, replicas: 4, updatedReplicas: 1, availableReplicas: 3}
`},
		{name: "old replicas pending termination", status: v1alpha1.HealthProgressing, message: "1 old replicas are pending termination", live: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 2}
spec: {replicas: 3}
status: {observedGeneration: 2, replicas: 4, updatedReplicas: 3, availableReplicas: 3}
`},
		{name: "updated replicas becoming available", status: v1alpha1.HealthProgressing, message: "Waiting for rollout to finish: 1 of 3 updated replicas are available...", live: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 2}
spec: {replicas: 3}
status: {observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 1}
`},
		{name: "replicas default to one", status: v1alpha1.HealthProgressing, message: "0 out of 1 new replicas", live: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 1}
spec: {}
status: {observedGeneration: 1}
`},
		{name: "scaled to zero", status: v1alpha1.HealthHealthy, live: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 1}
spec: {replicas: 0}
status: {observedGeneration: 1}
`},
	})
}

func TestStatefulSet(t *testing.T) {
	run(t, []testCase{
		{name: "rolled out", status: v1alpha1.HealthHealthy, live: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 2}
spec: {replicas: 3}
status: {observedGeneration: 2, replicas: 3, readyReplicas: 3, updatedReplicas: 3, currentRevision: db-7f, updateRevision: db-7f}
`},
		{name: "spec not observed", status: v1alpha1.HealthProgressing, message: "waiting for rollout to be observed", live: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 3}
spec: {replicas: 3}
status: {observedGeneration: 2, readyReplicas: 3}
`},
		{name: "pods not ready", status: v1alpha1.HealthProgressing, message: "Waiting for 2 pods to be ready", live: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 2}
spec: {replicas: 3}
status: {observedGeneration: 2, replicas: 3, readyReplicas: 1}
`},
		{name: "rolling update under way", status: v1alpha1.HealthProgressing, message: "rolling update to complete 1 pods at revision db-8a", live: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 3}
spec: {replicas: 3, updateStrategy: {type: RollingUpdate}}
status: {observedGeneration: 3, replicas: 3, readyReplicas: 3, updatedReplicas: 1, currentRevision: db-7f, updateRevision: db-8a}
`},
		{name: "partitioned update waiting", status: v1alpha1.HealthProgressing, message: "0 out of 1 new pods have been updated", live: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 3}
spec: {replicas: 3, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}}
status: {observedGeneration: 3, replicas: 3, readyReplicas: 3, updatedReplicas: 0, currentRevision: db-7f, updateRevision: db-8a}
`},
		{name: "partitioned update done", status: v1alpha1.HealthHealthy, message: "partitioned roll out complete", live: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 3}
spec: {replicas: 3, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}}
status: {observedGeneration: 3, replicas: 3, readyReplicas: 3, updatedReplicas: 1, currentRevision: db-7f, updateRevision: db-8a}
`},
		{name: "on delete is healthy once ready", status: v1alpha1.HealthHealthy, message: "3 ready pods", live: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 3}
spec: {replicas: 3, updateStrategy: {type: OnDelete}}
status: {observedGeneration: 3, replicas: 3, readyReplicas: 3, updatedReplicas: 0, currentRevision: db-7f, updateRevision: db-8a}
`},
	})
}

func TestDaemonSet(t *testing.T) {
	run(t, []testCase{
		{name: "rolled out", status: v1alpha1.HealthHealthy, live: `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 2}
status: {observedGeneration: 2, desiredNumberScheduled: 4, updatedNumberScheduled: 4, numberAvailable: 4, numberReady: 4}
`},
		{name: "spec not observed", status: v1alpha1.HealthProgressing, message: "waiting for rollout to be observed", live: `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 3}
status: {observedGeneration: 2, desiredNumberScheduled: 4, updatedNumberScheduled: 4, numberAvailable: 4}
`},
		{name: "pods being updated", status: v1alpha1.HealthProgressing, message: "2 out of 4 new pods have been updated", live: `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 3}
status: {observedGeneration: 3, desiredNumberScheduled: 4, updatedNumberScheduled: 2, numberAvailable: 4}
`},
		{name: "updated pods becoming available", status: v1alpha1.HealthProgressing, message: "3 of 4 updated pods are available", live: `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 3}
status: {observedGeneration: 3, desiredNumberScheduled: 4, updatedNumberScheduled: 4, numberAvailable: 3}
`},
		{name: "on delete is healthy once observed", status: v1alpha1.HealthHealthy, message: "1 out of 4 new pods", live: `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 3}
spec: {updateStrategy: {type: OnDelete}}
status: {observedGeneration: 3, desiredNumberScheduled: 4, updatedNumberScheduled: 1, numberAvailable: 4}
`},
	})
}

func TestReplicaSet(t *testing.T) {
	run(t, []testCase{
		{name: "all available", status: v1alpha1.HealthHealthy, live: `
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-5d8f, generation: 1}
spec: {replicas: 2}
status: {observedGeneration: 1, replicas: 2, readyReplicas: 2, availableReplicas: 2}
`},
		{name: "spec not observed", status: v1alpha1.HealthProgressing, message: "waiting for rollout to be observed", live: `
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-5d8f, generation: 2}
spec: {replicas: 2}
status: {observedGeneration: 1, availableReplicas: 2}
`},
		{name: "replica failure", status: v1alpha1.HealthDegraded, message: "exceeded quota", live: `
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-5d8f, generation: 1}
spec: {replicas: 2}
status:
  observedGeneration: 1
  conditions:
  - {type: ReplicaFailure, status: "True", reason: FailedCreate, message: 'pods "web-5d8f-x" is forbidden: exceeded quota: compute'}
`},
		{name: "pods becoming available", status: v1alpha1.HealthProgressing, message: "1 out of 2 new replicas are available", live: `
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-5d8f, generation: 1}
spec: {replicas: 2}
status: {observedGeneration: 1, replicas: 2, availableReplicas: 1}
`},
	})
}
