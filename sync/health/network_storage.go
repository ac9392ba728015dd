package health

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// serviceHealth: a Service of type LoadBalancer is Progressing until its load balancer has an
// address; every other Service is Healthy.
func serviceHealth(obj *unstructured.Unstructured) Result {
	if stringField(obj, "spec", "type") != "LoadBalancer" {
		return healthy("")
	}
	if !hasLoadBalancerAddress(obj) {
		return progressing("waiting for the load balancer to get an address")
	}
	return healthy("")
}

// ingressHealth: an Ingress is Progressing until its controller publishes an address.
func ingressHealth(obj *unstructured.Unstructured) Result {
	if !hasLoadBalancerAddress(obj) {
		return progressing("waiting for the ingress to get an address")
	}
	return healthy("")
}

// hasLoadBalancerAddress reports whether status.loadBalancer.ingress has an entry with an IP or
// a hostname.
func hasLoadBalancerAddress(obj *unstructured.Unstructured) bool {
	for _, ing := range maps(obj, "status", "loadBalancer", "ingress") {
		if str(ing, "ip") != "" || str(ing, "hostname") != "" {
			return true
		}
	}
	return false
}

// pvcHealth: Bound is Healthy, Lost (the volume is gone) Degraded, Pending or not yet reported
// Progressing, any other phase Unknown.
func pvcHealth(obj *unstructured.Unstructured) Result {
	switch phase := stringField(obj, "status", "phase"); phase {
	case "Bound":
		return healthy("")
	case "Lost":
		return degraded("the claim lost its volume")
	case "Pending", "":
		return progressing("waiting for the claim to be bound")
	default:
		return Result{Status: v1alpha1.HealthUnknown, Message: fmt.Sprintf("claim phase is %s", phase)}
	}
}
