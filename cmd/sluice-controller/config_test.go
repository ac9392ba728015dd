package main

import (
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// render builds a kustomization under config/ as `kubectl kustomize` does.
func render(t *testing.T, dir string) map[string]*unstructured.Unstructured {
	t.Helper()
	path := filepath.Join("..", "..", "config", dir)
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), path)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", path, err)
	}
	out := map[string]*unstructured.Unstructured{}
	for _, res := range resMap.Resources() {
		data, err := res.MarshalJSON()
		if err != nil {
			t.Fatalf("kustomize build %s: %v", path, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			t.Fatalf("decode %s of the build of %s: %v", res.CurId(), path, err)
		}
		out[u.GetKind()+"/"+u.GetNamespace()+"/"+u.GetName()] = u
	}
	return out
}

func mustFind(t *testing.T, objs map[string]*unstructured.Unstructured, key string) *unstructured.Unstructured {
	t.Helper()
	u, ok := objs[key]
	if !ok {
		t.Fatalf("no %s in the build", key)
	}
	return u
}

// config/default ships a metrics Service that reaches the controller's HTTPS metrics port, and no
// ServiceMonitor (its CRD may not be installed); config/prometheus holds the ServiceMonitor, which
// selects that Service and scrapes its port over HTTPS with Prometheus's ServiceAccount token.
func TestConfigMetricsScraping(t *testing.T) {
	def := render(t, "default")
	for key := range def {
		if u := def[key]; u.GetKind() == "ServiceMonitor" {
			t.Errorf("config/default holds %s: the ServiceMonitor CRD may not exist", key)
		}
	}
	dep := mustFind(t, def, "Deployment/sluice-system/sluice-controller")
	podLabels, _, _ := unstructured.NestedStringMap(dep.Object, "spec", "template", "metadata", "labels")
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	ctr := containers[0].(map[string]any)
	var metricsPort int64
	for _, p := range ctr["ports"].([]any) {
		if p := p.(map[string]any); p["name"] == "metrics" {
			metricsPort = p["containerPort"].(int64)
		}
	}
	args, _, _ := unstructured.NestedStringSlice(ctr, "args")
	if metricsPort != 8443 || !contains(args, "--metrics-secure") || !contains(args, "--metrics-bind-address=:8443") {
		t.Fatalf("controller container: metrics port %d, args %v; want 8443 served with --metrics-secure", metricsPort, args)
	}

	svc := mustFind(t, def, "Service/sluice-system/sluice-controller-metrics")
	sel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
	if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(podLabels)) {
		t.Errorf("metrics Service selector %v does not select the controller pods %v", sel, podLabels)
	}
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	if len(ports) != 1 {
		t.Fatalf("metrics Service ports = %v, want one", ports)
	}
	port := ports[0].(map[string]any)
	if port["targetPort"] != "metrics" || port["port"] != int64(8443) {
		t.Errorf("metrics Service port = %v, want 8443 to the container's metrics port", port)
	}

	prom := render(t, "prometheus")
	if len(prom) != 1 {
		t.Errorf("config/prometheus holds %d objects, want only the ServiceMonitor", len(prom))
	}
	sm := mustFind(t, prom, "ServiceMonitor/sluice-system/sluice-controller")
	if sm.GetAPIVersion() != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion = %s", sm.GetAPIVersion())
	}
	smSel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(smSel) == 0 || !labels.SelectorFromSet(smSel).Matches(labels.Set(svc.GetLabels())) {
		t.Errorf("ServiceMonitor selector %v does not select the metrics Service %v", smSel, svc.GetLabels())
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints = %v, want one", endpoints)
	}
	ep := endpoints[0].(map[string]any)
	if ep["port"] != port["name"] || ep["scheme"] != "https" || ep["path"] != "/metrics" ||
		ep["bearerTokenFile"] != "/var/run/secrets/kubernetes.io/serviceaccount/token" {
		t.Errorf("ServiceMonitor endpoint = %v, want HTTPS /metrics on port %v with the ServiceAccount token", ep, port["name"])
	}

	reader := mustFind(t, def, "ClusterRole//sluice-metrics-reader")
	rules, _, _ := unstructured.NestedSlice(reader.Object, "rules")
	if len(rules) != 1 || !contains(toStrings(rules[0].(map[string]any)["nonResourceURLs"]), "/metrics") {
		t.Errorf("sluice-metrics-reader rules = %v, want get on /metrics", rules)
	}
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
