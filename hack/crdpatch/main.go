// Command crdpatch loosens the pod template schemas that controller-gen writes into the
// argoproj.io CRDs, so that the API server accepts every pod template Argo Rollouts' own CRDs
// accept. It runs after controller-gen in `make manifests` and rewrites the files in place.
//
// Argo Rollouts replaces the schema of a container's resources.limits and resources.requests,
// and of each pod volume, with x-kubernetes-preserve-unknown-fields: a quantity may then be
// written as a YAML number (cpu: 0.001), as Kubernetes accepts it in a Pod, and a malformed
// quantity reaches the controller, which reports it as InvalidSpec instead of the API server
// refusing the object. controller-gen has no marker for a field of a type it does not own
// (corev1.PodSpec), hence this step.
//
// Usage: crdpatch FILE...
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// podTemplates are the paths, in a CRD's object schema, of the pod templates that each kind
// holds. A path element ending in [] is an array whose items are followed.
var podTemplates = map[string][]string{
	"Rollout":                 {"spec.template"},
	"Experiment":              {"spec.templates[].template"},
	"AnalysisTemplate":        {"spec.metrics[].provider.job.spec.template"},
	"ClusterAnalysisTemplate": {"spec.metrics[].provider.job.spec.template"},
	"AnalysisRun":             {"spec.metrics[].provider.job.spec.template"},
}

// preserved are the paths, under a pod template, whose schema becomes "anything goes":
// Argo Rollouts' list, plus the pod-level resources that later Kubernetes versions added.
var preserved = []string{
	"spec.containers[].resources.limits",
	"spec.containers[].resources.requests",
	"spec.initContainers[].resources.limits",
	"spec.initContainers[].resources.requests",
	"spec.ephemeralContainers[].resources.limits",
	"spec.ephemeralContainers[].resources.requests",
	"spec.resources.limits",
	"spec.resources.requests",
	"spec.volumes[]",
}

// anything is the schema that keeps any value.
func anything() map[string]any {
	return map[string]any{"x-kubernetes-preserve-unknown-fields": true}
}

// keyedAnything is the schema of an item of a map list keyed by name (volumes) that keeps
// anything else: the list stays a map list for server-side apply, whose keys must be
// required properties of the items.
func keyedAnything() map[string]any {
	return map[string]any{
		"type":                                 "object",
		"properties":                           map[string]any{"name": map[string]any{"type": "string"}},
		"required":                             []any{"name"},
		"x-kubernetes-preserve-unknown-fields": true,
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: crdpatch FILE...")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		if err := patchFile(path); err != nil {
			fmt.Fprintf(os.Stderr, "crdpatch: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

func patchFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	body, hadSeparator := bytes.CutPrefix(data, []byte("---\n"))
	var crd map[string]any
	if err := yaml.Unmarshal(body, &crd); err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	kind, _ := lookup(crd, "spec", "names", "kind").(string)
	templates, ok := podTemplates[kind]
	if !ok {
		return nil // a kind without a pod template (GitSync) is left as generated
	}
	versions, _ := lookup(crd, "spec", "versions").([]any)
	if len(versions) == 0 {
		return fmt.Errorf("kind %s has no versions", kind)
	}
	for _, v := range versions {
		version, _ := v.(map[string]any)
		root, _ := lookup(version, "schema", "openAPIV3Schema").(map[string]any)
		if root == nil {
			return fmt.Errorf("kind %s: version without an openAPIV3Schema", kind)
		}
		for _, tmpl := range templates {
			for _, field := range preserved {
				if err := preserve(root, tmpl+"."+field); err != nil {
					return fmt.Errorf("kind %s: %w", kind, err)
				}
			}
		}
	}
	out, err := yaml.Marshal(crd)
	if err != nil {
		return fmt.Errorf("marshal: %w", err)
	}
	if hadSeparator {
		out = append([]byte("---\n"), out...)
	}
	if bytes.Equal(out, data) {
		return nil
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// preserve replaces the schema at path (dot separated; "name[]" steps into an array's items)
// with one that keeps any value. A path that the schema does not have is an error, so that a
// change of the generated schema is noticed rather than silently left strict.
func preserve(root map[string]any, path string) error {
	parent, key := root, ""
	node := root
	for _, part := range strings.Split(path, ".") {
		name, isArray := strings.CutSuffix(part, "[]")
		props, _ := node["properties"].(map[string]any)
		child, _ := props[name].(map[string]any)
		if child == nil {
			return fmt.Errorf("schema has no %s (at %s)", path, name)
		}
		parent, key, node = props, name, child
		if isArray {
			items, _ := child["items"].(map[string]any)
			if items == nil {
				return fmt.Errorf("schema of %s is not an array (at %s)", path, name)
			}
			parent, key, node = child, "items", items
		}
	}
	replacement := anything()
	if key == "items" && parent["x-kubernetes-list-type"] == "map" {
		if keys, _ := parent["x-kubernetes-list-map-keys"].([]any); len(keys) != 1 || keys[0] != "name" {
			return fmt.Errorf("schema of %s is a map list keyed by %v, not by name", path, keys)
		}
		replacement = keyedAnything()
	}
	parent[key] = replacement
	return nil
}

func lookup(obj map[string]any, keys ...string) any {
	var cur any = obj
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}
