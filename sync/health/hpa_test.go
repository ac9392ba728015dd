package health

import (
	"testing"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

func TestHorizontalPodAutoscaler(t *testing.T) {
	run(t, []testCase{
		{name: "v2 scaling", status: v1alpha1.HealthHealthy, live: `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
status:
  currentReplicas: 3
  desiredReplicas: 3
  conditions:
  - {type: AbleToScale, status: "True", reason: ReadyForNewScale}
  - {type: ScalingActive, status: "True", reason: ValidMetricFound}
  - {type: ScalingLimited, status: "False", reason: DesiredWithinRange}
`},
		{name: "v2 at its maximum", status: v1alpha1.HealthHealthy, live: `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
status:
  conditions:
  - {type: AbleToScale, status: "True", reason: ScaleDownStabilized}
  - {type: ScalingActive, status: "True", reason: ValidMetricFound}
  - {type: ScalingLimited, status: "True", reason: TooManyReplicas}
`},
		{name: "v2 no conditions yet", status: v1alpha1.HealthProgressing, message: "Waiting to Autoscale", live: `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec: {minReplicas: 1, maxReplicas: 5}
`},
		{name: "v2 metrics missing", status: v1alpha1.HealthDegraded, message: "unable to get metrics for resource cpu", live: `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
status:
  conditions:
  - {type: AbleToScale, status: "True", reason: SucceededGetScale}
  - {type: ScalingActive, status: "False", reason: FailedGetResourceMetric, message: "the HPA was unable to compute the replica count: unable to get metrics for resource cpu"}
`},
		{name: "v2 target missing", status: v1alpha1.HealthDegraded, message: `deployments/scale.apps "web" not found`, live: `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
status:
  conditions:
  - {type: AbleToScale, status: "False", reason: FailedGetScale, message: 'the HPA controller was unable to get the target''s current scale: deployments/scale.apps "web" not found'}
`},
		{name: "v2 target scaled to zero", status: v1alpha1.HealthSuspended, message: "scaling is disabled", live: `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
status:
  conditions:
  - {type: AbleToScale, status: "True", reason: SucceededGetScale}
  - {type: ScalingActive, status: "False", reason: ScalingDisabled, message: "scaling is disabled since the replica count of the target is zero"}
`},
		{name: "v2 backing off", status: v1alpha1.HealthProgressing, message: "forbidden windows", live: `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
status:
  conditions:
  - {type: AbleToScale, status: "False", reason: BackoffBoth, message: "the time since the previous scale is still within both the downscale and upscale forbidden windows"}
  - {type: ScalingActive, status: "True", reason: ValidMetricFound}
`},
		{name: "v1 conditions annotation healthy", status: v1alpha1.HealthHealthy, live: `
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: web
  annotations:
    autoscaling.alpha.kubernetes.io/conditions: '[{"type":"AbleToScale","status":"True","reason":"ReadyForNewScale"},{"type":"ScalingActive","status":"True","reason":"ValidMetricFound"}]'
status: {currentReplicas: 2, desiredReplicas: 2}
`},
		{name: "v1 conditions annotation degraded", status: v1alpha1.HealthDegraded, message: "invalid selector", live: `
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: web
  annotations:
    autoscaling.alpha.kubernetes.io/conditions: '[{"type":"ScalingActive","status":"False","reason":"InvalidSelector","message":"invalid selector"}]'
`},
		{name: "v1 without the annotation", status: v1alpha1.HealthProgressing, message: "Waiting to Autoscale", live: `
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: web}
status: {currentReplicas: 2}
`},
	})
}
