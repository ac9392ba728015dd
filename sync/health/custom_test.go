package health

import (
	"testing"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

func TestCustomResourceDefinition(t *testing.T) {
	run(t, []testCase{
		{name: "established", status: v1alpha1.HealthHealthy, live: `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
status:
  conditions:
  - {type: NamesAccepted, status: "True", reason: NoConflicts}
  - {type: Established, status: "True", reason: InitialNamesAccepted}
`},
		{name: "just created", status: v1alpha1.HealthProgressing, message: "waiting for the CRD to be established", live: `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec: {group: example.com}
`},
		{name: "names accepted, not yet established", status: v1alpha1.HealthProgressing, message: "waiting for the CRD to be established: not all names are accepted", live: `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
status:
  conditions:
  - {type: NamesAccepted, status: "True", reason: NoConflicts}
  - {type: Established, status: "False", reason: NotAccepted, message: not all names are accepted}
`},
		{name: "names refused", status: v1alpha1.HealthDegraded, message: `"widgets" is already in use`, live: `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
status:
  conditions:
  - {type: NamesAccepted, status: "False", reason: PluralConflict, message: '"widgets" is already in use'}
  - {type: Established, status: "False", reason: NotAccepted}
`},
		{name: "schema not structural", status: v1alpha1.HealthDegraded, message: "not structural", live: `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
status:
  conditions:
  - {type: Established, status: "True"}
  - {type: NonStructuralSchema, status: "True", reason: Violations, message: "spec.versions[0].schema.openAPIV3Schema.type: Required value"}
`},
		{name: "terminating", status: v1alpha1.HealthProgressing, message: "being terminated", live: `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
status:
  conditions:
  - {type: Established, status: "True"}
  - {type: Terminating, status: "True", reason: InstanceDeletionInProgress, message: could not confirm zero CustomResources remaining}
`},
	})
}

func TestGitSync(t *testing.T) {
	run(t, []testCase{
		{name: "child health surfaced", status: v1alpha1.HealthDegraded, message: "shop_web_apps_Deployment: Deployment \"web\" exceeded its progress deadline", live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 2}
status:
  observedGeneration: 2
  health: {status: Degraded, message: 'shop_web_apps_Deployment: Deployment "web" exceeded its progress deadline'}
  conditions: [{type: Ready, status: "False", reason: Succeeded, observedGeneration: 2}]
`},
		{name: "child healthy", status: v1alpha1.HealthHealthy, live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 2}
status:
  observedGeneration: 2
  health: {status: Healthy}
  conditions: [{type: Ready, status: "True", reason: Succeeded, observedGeneration: 2}]
`},
		{name: "child suspended", status: v1alpha1.HealthSuspended, live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 2}
status: {observedGeneration: 2, health: {status: Suspended, message: "web: Rollout is paused"}}
`},
		{name: "child missing", status: v1alpha1.HealthMissing, live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 2}
status: {observedGeneration: 2, health: {status: Missing}}
`},
		{name: "spec not observed", status: v1alpha1.HealthProgressing, message: "observed", live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 3}
status: {observedGeneration: 2, health: {status: Healthy}}
`},
		{name: "sync running", status: v1alpha1.HealthProgressing, message: "sync is running: waiting for wave 1", live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 2}
status:
  observedGeneration: 2
  health: {status: Healthy}
  operationState: {phase: Running, message: waiting for wave 1}
`},
		{name: "automated, new spec not synced (fetch failing)", status: v1alpha1.HealthProgressing, message: "the GitSync's new spec has not been synced yet: fetch: connection refused", live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 3}
spec: {syncPolicy: {automated: {}}}
status:
  observedGeneration: 3
  health: {status: Healthy}
  operationState: {phase: Succeeded, generation: 2}
  conditions: [{type: Ready, status: "False", reason: FetchFailed, message: "fetch: connection refused", observedGeneration: 3}]
`},
		{name: "manual, new spec not synced: the objects' health", status: v1alpha1.HealthHealthy, live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 3}
status:
  observedGeneration: 3
  health: {status: Healthy}
  operationState: {phase: Succeeded, generation: 2}
`},
		{name: "automated and suspended: no operation runs, the objects' health", status: v1alpha1.HealthHealthy, live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 3}
spec: {suspend: true, syncPolicy: {automated: {}}}
status:
  observedGeneration: 3
  health: {status: Healthy}
  operationState: {phase: Succeeded, generation: 2}
`},
		{name: "automated, operation state from before the field", status: v1alpha1.HealthHealthy, live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 3}
spec: {syncPolicy: {automated: {prune: true}}}
status:
  observedGeneration: 3
  health: {status: Healthy}
  operationState: {phase: Succeeded}
`},
		{name: "no health yet, Ready False", status: v1alpha1.HealthDegraded, message: "authentication required", live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 1}
status:
  observedGeneration: 1
  conditions: [{type: Ready, status: "False", reason: FetchFailed, message: "fetch: authentication required", observedGeneration: 1}]
`},
		{name: "stalled on a render error, old objects healthy", status: v1alpha1.HealthDegraded, message: "GitSync is stalled: render apps at 1a2b3c4: apps/web.yaml:3: bad indentation", live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 2}
status:
  observedGeneration: 2
  health: {status: Healthy}
  conditions:
  - {type: Ready, status: "False", reason: RenderFailed, message: "render apps at 1a2b3c4: apps/web.yaml:3: bad indentation", observedGeneration: 2}
  - {type: Stalled, status: "True", reason: RenderFailed, message: "render apps at 1a2b3c4: apps/web.yaml:3: bad indentation", observedGeneration: 2}
`},
		{name: "no status yet", status: v1alpha1.HealthProgressing, live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 1}
`},
		{name: "not a status", status: v1alpha1.HealthUnknown, live: `
apiVersion: sluice.dev/v1alpha1
kind: GitSync
metadata: {name: shop, generation: 1}
status: {observedGeneration: 1, health: {status: Sideways}}
`},
	})
}

func TestReadyCondition(t *testing.T) {
	run(t, []testCase{
		{name: "certificate ready", status: v1alpha1.HealthHealthy, live: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls, generation: 1}
status:
  conditions: [{type: Ready, status: "True", reason: Ready, message: Certificate is up to date and has not expired, observedGeneration: 1}]
`},
		{name: "certificate issuing", status: v1alpha1.HealthProgressing, message: "Issuing certificate as Secret does not exist", live: `
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web-tls, generation: 1}
status:
  conditions:
  - {type: Ready, status: "False", reason: DoesNotExist, message: Issuing certificate as Secret does not exist, observedGeneration: 1}
  - {type: Issuing, status: "True", reason: DoesNotExist, message: Issuing certificate as Secret does not exist, observedGeneration: 1}
`},
		{name: "external secret failing", status: v1alpha1.HealthDegraded, message: "could not get secret data from provider", live: `
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: db, generation: 1}
status:
  conditions: [{type: Ready, status: "False", reason: SecretSyncedError, message: could not get secret data from provider}]
`},
		{name: "ready unknown", status: v1alpha1.HealthProgressing, live: `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, generation: 1}
status:
  conditions: [{type: Ready, status: Unknown, reason: Initializing}]
`},
		{name: "ready false with an in-progress reason", status: v1alpha1.HealthProgressing, message: "provisioning the bucket", live: `
apiVersion: example.com/v1
kind: Bucket
metadata: {name: b, generation: 1}
status:
  conditions: [{type: Ready, status: "False", reason: Provisioning, message: provisioning the bucket}]
`},
		{name: "ready false waiting for dependencies", status: v1alpha1.HealthProgressing, live: `
apiVersion: example.com/v1
kind: Bucket
metadata: {name: b, generation: 1}
status:
  conditions: [{type: Ready, status: "False", reason: WaitingForDependencies}]
`},
		{name: "flux reconciling", status: v1alpha1.HealthProgressing, message: "reconciliation in progress", live: `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, generation: 2}
status:
  observedGeneration: 2
  conditions:
  - {type: Reconciling, status: "True", reason: Progressing, message: reconciliation in progress}
  - {type: Ready, status: "False", reason: BuildFailed, message: kustomize build failed}
`},
		{name: "stalled", status: v1alpha1.HealthDegraded, message: "invalid source", live: `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, generation: 2}
status:
  observedGeneration: 2
  conditions:
  - {type: Stalled, status: "True", reason: InvalidSource, message: invalid source}
  - {type: Ready, status: "Unknown"}
`},
		{name: "status generation behind", status: v1alpha1.HealthProgressing, message: "observed", live: `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, generation: 3}
status:
  observedGeneration: 2
  conditions: [{type: Ready, status: "True"}]
`},
		{name: "condition generation behind", status: v1alpha1.HealthProgressing, message: "observed", live: `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, generation: 3}
status:
  conditions: [{type: Ready, status: "True", observedGeneration: 2}]
`},
		{name: "suspended", status: v1alpha1.HealthSuspended, live: `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, generation: 1}
status:
  conditions: [{type: Ready, status: "False", reason: Suspended, message: reconciliation is suspended}]
`},
		{name: "progress deadline is a failure, not progress", status: v1alpha1.HealthDegraded, live: `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, generation: 1}
status:
  conditions: [{type: Ready, status: "False", reason: ProgressDeadlineExceeded}]
`},
	})
}
