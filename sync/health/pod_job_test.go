package health

import (
	"testing"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

func TestPod(t *testing.T) {
	run(t, []testCase{
		{name: "running and ready", status: v1alpha1.HealthHealthy, live: `
apiVersion: v1
kind: Pod
metadata: {name: web-1}
spec: {restartPolicy: Always}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
  containerStatuses: [{name: web, ready: true, state: {running: {}}}]
`},
		{name: "running, not ready yet", status: v1alpha1.HealthProgressing, message: "waiting for the pod to be ready", live: `
apiVersion: v1
kind: Pod
metadata: {name: web-1}
status:
  phase: Running
  conditions: [{type: Ready, status: "False"}]
  containerStatuses: [{name: web, ready: false, state: {running: {}}}]
`},
		{name: "restarted and not ready", status: v1alpha1.HealthDegraded, message: `container "web" restarted (OOMKilled, exit code 137)`, live: `
apiVersion: v1
kind: Pod
metadata: {name: web-1}
status:
  phase: Running
  conditions: [{type: Ready, status: "False"}]
  containerStatuses:
  - name: web
    restartCount: 1
    state: {running: {}}
    lastState: {terminated: {reason: OOMKilled, exitCode: 137}}
`},
		{name: "pending while scheduling", status: v1alpha1.HealthProgressing, message: "0/3 nodes are available", live: `
apiVersion: v1
kind: Pod
metadata: {name: web-1}
status:
  phase: Pending
  conditions: [{type: PodScheduled, status: "False", reason: Unschedulable, message: "0/3 nodes are available: 3 Insufficient cpu."}]
`},
		{name: "pending while creating", status: v1alpha1.HealthProgressing, message: "ContainerCreating", live: `
apiVersion: v1
kind: Pod
metadata: {name: web-1}
status:
  phase: Pending
  containerStatuses: [{name: web, state: {waiting: {reason: ContainerCreating}}}]
`},
		{name: "image pull back-off", status: v1alpha1.HealthDegraded, message: `container "web": ImagePullBackOff: Back-off pulling image "web:nope"`, live: `
apiVersion: v1
kind: Pod
metadata: {name: web-1}
status:
  phase: Pending
  containerStatuses: [{name: web, state: {waiting: {reason: ImagePullBackOff, message: 'Back-off pulling image "web:nope"'}}}]
`},
		{name: "err image pull", status: v1alpha1.HealthDegraded, message: "ErrImagePull", live: `
apiVersion: v1
kind: Pod
metadata: {name: web-1}
status:
  phase: Pending
  containerStatuses: [{name: web, state: {waiting: {reason: ErrImagePull}}}]
`},
		{name: "crash loop while running", status: v1alpha1.HealthDegraded, message: "CrashLoopBackOff", live: `
apiVersion: v1
kind: Pod
metadata: {name: web-1}
status:
  phase: Running
  containerStatuses:
  - {name: web, state: {waiting: {reason: CrashLoopBackOff, message: "back-off 5m0s restarting failed container"}}}
`},
		{name: "init container crash loop", status: v1alpha1.HealthDegraded, message: `container "migrate": CrashLoopBackOff`, live: `
apiVersion: v1
kind: Pod
metadata: {name: web-1}
status:
  phase: Pending
  initContainerStatuses: [{name: migrate, state: {waiting: {reason: CrashLoopBackOff}}}]
  containerStatuses: [{name: web, state: {waiting: {reason: PodInitializing}}}]
`},
		{name: "hook pod waiting on an image is not degraded", status: v1alpha1.HealthProgressing, live: `
apiVersion: v1
kind: Pod
metadata: {name: hook}
spec: {restartPolicy: Never}
status:
  phase: Pending
  containerStatuses: [{name: hook, state: {waiting: {reason: ImagePullBackOff}}}]
`},
		{name: "running to completion", status: v1alpha1.HealthProgressing, live: `
apiVersion: v1
kind: Pod
metadata: {name: hook}
spec: {restartPolicy: OnFailure}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
`},
		{name: "succeeded", status: v1alpha1.HealthHealthy, live: `
apiVersion: v1
kind: Pod
metadata: {name: hook}
spec: {restartPolicy: Never}
status: {phase: Succeeded}
`},
		{name: "failed with a status message", status: v1alpha1.HealthDegraded, message: "The node was low on resource: memory", live: `
apiVersion: v1
kind: Pod
metadata: {name: hook}
spec: {restartPolicy: Never}
status: {phase: Failed, reason: Evicted, message: "The node was low on resource: memory."}
`},
		{name: "failed with an exit code", status: v1alpha1.HealthDegraded, message: `container "hook": Error, exit code 2`, live: `
apiVersion: v1
kind: Pod
metadata: {name: hook}
spec: {restartPolicy: Never}
status:
  phase: Failed
  containerStatuses: [{name: hook, state: {terminated: {reason: Error, exitCode: 2}}}]
`},
		{name: "failed with a termination message", status: v1alpha1.HealthDegraded, message: "cannot reach database", live: `
apiVersion: v1
kind: Pod
metadata: {name: hook}
spec: {restartPolicy: Never}
status:
  phase: Failed
  containerStatuses: [{name: hook, state: {terminated: {reason: Error, exitCode: 1, message: cannot reach database}}}]
`},
		{name: "unknown phase", status: v1alpha1.HealthUnknown, live: `
apiVersion: v1
kind: Pod
metadata: {name: web-1}
status: {phase: Unknown}
`},
	})
}

func TestJob(t *testing.T) {
	run(t, []testCase{
		{name: "complete", status: v1alpha1.HealthHealthy, live: `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
status:
  succeeded: 1
  conditions:
  - {type: SuccessCriteriaMet, status: "True"}
  - {type: Complete, status: "True"}
`},
		{name: "failed", status: v1alpha1.HealthDegraded, message: "Job has reached the specified backoff limit", live: `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
status:
  failed: 7
  conditions:
  - {type: FailureTarget, status: "True", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}
  - {type: Failed, status: "True", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}
`},
		{name: "failure decided, pods still terminating", status: v1alpha1.HealthDegraded, message: "DeadlineExceeded", live: `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
status:
  active: 1
  conditions: [{type: FailureTarget, status: "True", reason: DeadlineExceeded}]
`},
		{name: "suspended", status: v1alpha1.HealthSuspended, message: "job is suspended", live: `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {suspend: true}
status:
  conditions: [{type: Suspended, status: "True", reason: JobSuspended}]
`},
		{name: "running", status: v1alpha1.HealthProgressing, message: "job is running: 2 active", live: `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {parallelism: 2}
status: {active: 2}
`},
		{name: "a False condition is not an outcome", status: v1alpha1.HealthProgressing, message: "job is running", live: `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
status:
  active: 1
  conditions: [{type: Failed, status: "False"}]
`},
	})
}
