package v1alpha1

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// GatewayAPIConfig is the configuration under trafficRouting.plugins["argoproj-labs/gatewayAPI"],
// in the shape the Argo Rollouts Gateway API plugin reads.
type GatewayAPIConfig struct {
	// HTTPRoute is the name of one HTTPRoute.
	HTTPRoute string `json:"httpRoute,omitempty"`
	// HTTPRoutes lists several HTTPRoutes.
	HTTPRoutes []GatewayAPIRoute `json:"httpRoutes,omitempty"`
	// GRPCRoute is the name of one GRPCRoute.
	GRPCRoute string `json:"grpcRoute,omitempty"`
	// GRPCRoutes lists several GRPCRoutes.
	GRPCRoutes []GatewayAPIRoute `json:"grpcRoutes,omitempty"`
	// Namespace of the routes (default: the Rollout's namespace).
	Namespace string `json:"namespace,omitempty"`
}

// GatewayAPIRoute names one route of a GatewayAPIConfig.
type GatewayAPIRoute struct {
	Name string `json:"name"`
	// UseHeaderRoutes lets setHeaderRoute steps add rules to this route.
	UseHeaderRoutes bool `json:"useHeaderRoutes,omitempty"`
}

// GatewayAPI decodes the Gateway API plugin configuration. It returns nil, nil when the plugin
// is not configured, and an error that names the key when the configuration holds a key that
// sluice does not understand.
func (t *RolloutTrafficRouting) GatewayAPI() (*GatewayAPIConfig, error) {
	if t == nil {
		return nil, nil
	}
	raw, ok := t.Plugins[GatewayAPIPluginName]
	if !ok {
		return nil, nil
	}
	cfg := &GatewayAPIConfig{}
	if len(raw.Raw) == 0 || string(raw.Raw) == "null" {
		return cfg, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw.Raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return nil, fmt.Errorf("decode trafficRouting.plugins.%s: %w", GatewayAPIPluginName, err)
	}
	return cfg, nil
}
