package v1alpha1

import (
	"fmt"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sort"
)

// GatewayAPIPluginName is the trafficRouting.plugins key of the Gateway API router, which sluice
// serves natively.
const GatewayAPIPluginName = "argoproj-labs/gatewayAPI"

// RolloutTrafficRouting configures the traffic router of a canary. Routers other than istio and
// the Gateway API plugin are accepted so manifests decode, and reported as not supported.
type RolloutTrafficRouting struct {
	// Istio shifts traffic with Istio VirtualServices and DestinationRules.
	// +optional
	Istio *IstioTrafficRouting `json:"istio,omitempty"`
	// Plugins holds router plugin configurations keyed by plugin name; only
	// "argoproj-labs/gatewayAPI" is supported.
	// +optional
	Plugins map[string]apiextensionsv1.JSON `json:"plugins,omitempty"`
	// ManagedRoutes are the header and mirror routes this controller owns, in precedence order.
	// +optional
	ManagedRoutes []ManagedRoute `json:"managedRoutes,omitempty"`
	// MaxTrafficWeight is the total weight that means 100% (default 100).
	// +optional
	MaxTrafficWeight *int32 `json:"maxTrafficWeight,omitempty"`

	// Nginx is not supported.
	// +optional
	// +kubebuilder:validation:Type=object
	Nginx *apiextensionsv1.JSON `json:"nginx,omitempty"`
	// ALB is not supported.
	// +optional
	// +kubebuilder:validation:Type=object
	ALB *apiextensionsv1.JSON `json:"alb,omitempty"`
	// SMI is not supported.
	// +optional
	// +kubebuilder:validation:Type=object
	SMI *apiextensionsv1.JSON `json:"smi,omitempty"`
	// Ambassador is not supported.
	// +optional
	// +kubebuilder:validation:Type=object
	Ambassador *apiextensionsv1.JSON `json:"ambassador,omitempty"`
	// AppMesh is not supported.
	// +optional
	// +kubebuilder:validation:Type=object
	AppMesh *apiextensionsv1.JSON `json:"appMesh,omitempty"`
	// Traefik is not supported.
	// +optional
	// +kubebuilder:validation:Type=object
	Traefik *apiextensionsv1.JSON `json:"traefik,omitempty"`
	// Apisix is not supported.
	// +optional
	// +kubebuilder:validation:Type=object
	Apisix *apiextensionsv1.JSON `json:"apisix,omitempty"`
}

// ManagedRoute names a route that the controller creates and removes.
type ManagedRoute struct {
	Name string `json:"name"`
}

// IstioTrafficRouting shifts traffic with Istio.
type IstioTrafficRouting struct {
	// VirtualService is the VirtualService whose route weights are set.
	// +optional
	VirtualService *IstioVirtualService `json:"virtualService,omitempty"`
	// DestinationRule gets the canary and stable subsets' pod template hashes.
	// +optional
	DestinationRule *IstioDestinationRule `json:"destinationRule,omitempty"`
	// VirtualServices is the list form of VirtualService.
	// +optional
	VirtualServices []IstioVirtualService `json:"virtualServices,omitempty"`
}

// IstioVirtualService names a VirtualService and the routes in it to change.
type IstioVirtualService struct {
	// Name of the VirtualService, in the Rollout's namespace.
	Name string `json:"name"`
	// Routes are the names of the HTTP routes to change; empty means the single HTTP route.
	// +optional
	Routes []string `json:"routes,omitempty"`
	// TLSRoutes select the TLS routes to change.
	// +optional
	TLSRoutes []TLSRoute `json:"tlsRoutes,omitempty"`
	// TCPRoutes select the TCP routes to change.
	// +optional
	TCPRoutes []TCPRoute `json:"tcpRoutes,omitempty"`
}

// TLSRoute selects a TLS route of a VirtualService by port and SNI hosts.
type TLSRoute struct {
	// +optional
	Port int64 `json:"port,omitempty"`
	// +optional
	SNIHosts []string `json:"sniHosts,omitempty"`
}

// TCPRoute selects a TCP route of a VirtualService by port.
type TCPRoute struct {
	// +optional
	Port int64 `json:"port,omitempty"`
}

// IstioDestinationRule names a DestinationRule and its canary and stable subsets.
type IstioDestinationRule struct {
	Name             string `json:"name"`
	CanarySubsetName string `json:"canarySubsetName"`
	StableSubsetName string `json:"stableSubsetName"`
}

// Unsupported names the routers a manifest may carry that sluice does not serve, one message each
// ("trafficRouting.nginx is not supported"), in a stable order.
func (t *RolloutTrafficRouting) Unsupported() []string {
	var out []string
	for _, r := range []struct {
		key string
		set bool
	}{
		{"nginx", t.Nginx != nil}, {"alb", t.ALB != nil}, {"smi", t.SMI != nil},
		{"ambassador", t.Ambassador != nil}, {"traefik", t.Traefik != nil},
		{"apisix", t.Apisix != nil}, {"appMesh", t.AppMesh != nil},
	} {
		if r.set {
			out = append(out, fmt.Sprintf("trafficRouting.%s is not supported", r.key))
		}
	}
	var plugins []string
	for name := range t.Plugins {
		if name != GatewayAPIPluginName {
			plugins = append(plugins, name)
		}
	}
	sort.Strings(plugins)
	for _, name := range plugins {
		out = append(out, fmt.Sprintf("trafficRouting.plugins.%q is not supported", name))
	}
	return out
}
