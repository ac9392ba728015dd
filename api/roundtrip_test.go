// Package api_test checks that every manifest users write for sluice's kinds survives a decode
// and encode through the Go types without losing a field.
package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	rolloutsv1alpha1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// newObject returns an empty typed object for an apiVersion and kind served by sluice, or nil for
// kinds that are not ours (the Services next to a Rollout in a sample).
func newObject(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "argoproj.io/v1alpha1/Rollout":
		return &rolloutsv1alpha1.Rollout{}
	case "argoproj.io/v1alpha1/AnalysisTemplate":
		return &rolloutsv1alpha1.AnalysisTemplate{}
	case "argoproj.io/v1alpha1/ClusterAnalysisTemplate":
		return &rolloutsv1alpha1.ClusterAnalysisTemplate{}
	case "argoproj.io/v1alpha1/AnalysisRun":
		return &rolloutsv1alpha1.AnalysisRun{}
	case "argoproj.io/v1alpha1/Experiment":
		return &rolloutsv1alpha1.Experiment{}
	case "sluice.dev/v1alpha1/GitSync":
		return &sluicev1alpha1.GitSync{}
	}
	return nil
}

// TestManifestsRoundTrip decodes every document of config/samples and testdata strictly (an
// unknown field fails) and checks that encoding it again gives the same JSON document, except
// for the empty objects the core Kubernetes types always write (a container's "resources: {}").
func TestManifestsRoundTrip(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../config/samples/*.yaml", "testdata/*.yaml"} {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, matches...)
	}
	ours := 0
	for _, file := range files {
		if filepath.Base(file) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(data), "\n---\n") {
			inJSON, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			var meta struct{ APIVersion, Kind string }
			if err := json.Unmarshal(inJSON, &meta); err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			obj := newObject(meta.APIVersion, meta.Kind)
			if obj == nil {
				continue
			}
			ours++
			t.Run(filepath.Base(file)+"/"+meta.Kind, func(t *testing.T) {
				roundTrip(t, inJSON, obj)
			})
		}
	}
	// The seed Rollout, five samples of our kinds and the edge-case testdata must all be there.
	if ours < 10 {
		t.Fatalf("found only %d manifests of sluice's kinds in %v", ours, files)
	}
}

func roundTrip(t *testing.T, inJSON []byte, obj any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(inJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		t.Fatalf("decode: %v", err)
	}
	outJSON, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(inJSON, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(outJSON, &got); err != nil {
		t.Fatal(err)
	}
	if path, ok := sameDocument(want, got, "$"); !ok {
		t.Errorf("round trip changed the document at %s\n in: %s\nout: %s", path, inJSON, outJSON)
	}
}

// emptyObject reports whether v is an object holding nothing but empty objects: what Go encodes
// for a struct field without a pointer, such as a Rollout's status.canary.
func emptyObject(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for _, child := range m {
		if !emptyObject(child) {
			return false
		}
	}
	return true
}

// sameDocument reports whether got equals want, allowing got to hold extra empty objects, and
// where they first differ.
func sameDocument(want, got any, path string) (string, bool) {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		for k, gv := range gm {
			if _, in := wm[k]; !in && !emptyObject(gv) {
				return path + "." + k, false
			}
		}
		for k, wv := range wm {
			gv, in := gm[k]
			if !in {
				return path + "." + k, false
			}
			if p, ok := sameDocument(wv, gv, path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	}
	wl, wok := want.([]any)
	gl, gok := got.([]any)
	if wok && gok {
		if len(wl) != len(gl) {
			return path, false
		}
		for i := range wl {
			if p, ok := sameDocument(wl[i], gl[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	}
	return path, reflect.DeepEqual(want, got)
}
