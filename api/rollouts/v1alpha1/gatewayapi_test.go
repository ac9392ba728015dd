package v1alpha1

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

func TestGatewayAPIConfig(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("..", "..", "testdata", "rollout-canary-plugins.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ro Rollout
	if err := yaml.Unmarshal(in, &ro); err != nil {
		t.Fatal(err)
	}
	tr := ro.Spec.Strategy.Canary.TrafficRouting
	cfg, err := tr.GatewayAPI()
	if err != nil {
		t.Fatal(err)
	}
	want := &GatewayAPIConfig{HTTPRoutes: []GatewayAPIRoute{{Name: "web", UseHeaderRoutes: true}}, Namespace: "demo"}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
	if tr.Nginx == nil || tr.ALB == nil || tr.SMI == nil || tr.AppMesh == nil || tr.Apisix == nil {
		t.Errorf("unsupported routers must decode as non-nil: %+v", tr)
	}
	if ro.Spec.Strategy.Canary.Steps[0].Experiment != nil {
		t.Errorf("experiment should be nil on a setWeight step")
	}

	tr.Plugins[GatewayAPIPluginName] = tr.Plugins["acme/other"]
	if cfg, err := tr.GatewayAPI(); err != nil || cfg == nil {
		t.Errorf("empty config: got %v, %v", cfg, err)
	}
	bad := *tr
	bad.Plugins = map[string]apiextensionsv1.JSON{GatewayAPIPluginName: {Raw: []byte(`{"tcpRoute":"x"}`)}}
	if _, err := bad.GatewayAPI(); err == nil {
		t.Errorf("want an error naming tcpRoute")
	}
	// The plugin's bookkeeping options apply unchanged (and do nothing in sluice).
	plugin := *tr
	plugin.Plugins = map[string]apiextensionsv1.JSON{GatewayAPIPluginName: {Raw: []byte(
		`{"httpRoute":"web","configMap":"rollouts-routes","disableInProgressLabel":true,"inProgressLabelKey":"k","inProgressLabelValue":"v"}`)}}
	if cfg, err := plugin.GatewayAPI(); err != nil || cfg == nil || cfg.HTTPRoute != "web" {
		t.Errorf("plugin bookkeeping options: got %+v, %v", cfg, err)
	}
	if cfg, err := (&RolloutTrafficRouting{}).GatewayAPI(); cfg != nil || err != nil {
		t.Errorf("not configured: got %v, %v", cfg, err)
	}
}
