package health

import (
	"testing"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

func TestService(t *testing.T) {
	run(t, []testCase{
		{name: "cluster IP", status: v1alpha1.HealthHealthy, live: `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: ClusterIP, ports: [{port: 80}]}
`},
		{name: "load balancer without an address", status: v1alpha1.HealthProgressing, message: "load balancer", live: `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer}
status: {loadBalancer: {}}
`},
		{name: "load balancer with an empty entry", status: v1alpha1.HealthProgressing, live: `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer}
status: {loadBalancer: {ingress: [{ports: [{port: 80, protocol: TCP}]}]}}
`},
		{name: "load balancer with an IP", status: v1alpha1.HealthHealthy, live: `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer}
status: {loadBalancer: {ingress: [{ip: 203.0.113.10}]}}
`},
		{name: "load balancer with a hostname", status: v1alpha1.HealthHealthy, live: `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer}
status: {loadBalancer: {ingress: [{hostname: lb.example.com}]}}
`},
	})
}

func TestIngress(t *testing.T) {
	run(t, []testCase{
		{name: "no address", status: v1alpha1.HealthProgressing, message: "address", live: `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec: {rules: [{host: web.example.com}]}
`},
		{name: "address published", status: v1alpha1.HealthHealthy, live: `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
status: {loadBalancer: {ingress: [{ip: 203.0.113.10}]}}
`},
		{name: "legacy extensions group", status: v1alpha1.HealthHealthy, live: `
apiVersion: extensions/v1beta1
kind: Ingress
metadata: {name: web}
status: {loadBalancer: {ingress: [{hostname: web.example.com}]}}
`},
		{name: "legacy extensions group without address", status: v1alpha1.HealthProgressing, live: `
apiVersion: extensions/v1beta1
kind: Ingress
metadata: {name: web}
status: {loadBalancer: {ingress: []}}
`},
	})
}

func TestPersistentVolumeClaim(t *testing.T) {
	run(t, []testCase{
		{name: "bound", status: v1alpha1.HealthHealthy, live: `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
status: {phase: Bound}
`},
		{name: "pending", status: v1alpha1.HealthProgressing, message: "bound", live: `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
status: {phase: Pending}
`},
		{name: "no status yet", status: v1alpha1.HealthProgressing, live: `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
`},
		{name: "lost", status: v1alpha1.HealthDegraded, message: "lost", live: `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
status: {phase: Lost}
`},
	})
}
