package v1alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
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

	// The Argo Rollouts plugin's bookkeeping options, accepted so that its manifests apply
	// unchanged, and not used: sluice keeps no ConfigMap of managed routes (they are found by
	// name on the routes) and does not label routes while a canary runs.

	// ConfigMap is where the plugin stores its managed routes.
	ConfigMap string `json:"configMap,omitempty"`
	// DisableInProgressLabel turns the plugin's in-progress route label off.
	DisableInProgressLabel bool `json:"disableInProgressLabel,omitempty"`
	// InProgressLabelKey is the key of the plugin's in-progress route label.
	InProgressLabelKey string `json:"inProgressLabelKey,omitempty"`
	// InProgressLabelValue is the value of the plugin's in-progress route label.
	InProgressLabelValue string `json:"inProgressLabelValue,omitempty"`
}

// gatewayAPIUnsupported are the plugin's keys for what sluice does not do, with the reason.
var gatewayAPIUnsupported = map[string]string{
	"tcpRoute":          "sluice shifts HTTPRoute and GRPCRoute weights only",
	"tcpRoutes":         "sluice shifts HTTPRoute and GRPCRoute weights only",
	"tlsRoute":          "sluice shifts HTTPRoute and GRPCRoute weights only",
	"tlsRoutes":         "sluice shifts HTTPRoute and GRPCRoute weights only",
	"httpRouteSelector": "name the routes in httpRoutes",
	"grpcRouteSelector": "name the routes in grpcRoutes",
	"tcpRouteSelector":  "sluice shifts HTTPRoute and GRPCRoute weights only",
	"tlsRouteSelector":  "sluice shifts HTTPRoute and GRPCRoute weights only",
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
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw.Raw, &keys); err != nil {
		return nil, fmt.Errorf("decode trafficRouting.plugins.%q: %w", GatewayAPIPluginName, err)
	}
	var problems []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if why, ok := gatewayAPIUnsupported[k]; ok {
			problems = append(problems, fmt.Sprintf("trafficRouting.plugins.%q.%s is not supported: %s", GatewayAPIPluginName, k, why))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	dec := json.NewDecoder(bytes.NewReader(raw.Raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return nil, fmt.Errorf("decode trafficRouting.plugins.%q: %w", GatewayAPIPluginName, err)
	}
	return cfg, nil
}
