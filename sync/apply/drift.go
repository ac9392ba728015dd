package apply

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Differs reports whether a live object differs from its desired object on the fields Git sets,
// and names those fields (JSON paths, at most 20). A nil live object is missing. The comparison is
// a containment check: every field of desired must hold the same value in live, so fields the API
// server defaults or other controllers add are never drift. A live object whose digest annotation
// is not desired's was applied from other YAML and differs even when its fields match, which
// catches a field removed from Git.
//
// It is pure and cheap (no API call), so it can run on every watch event.
func Differs(live, desired *unstructured.Unstructured) (bool, []string) {
	if live == nil {
		return true, []string{"(missing)"}
	}
	d := &differ{}
	desiredSpec := withoutStatus(desired.Object)
	liveSpec := withoutStatus(live.Object)
	if live.GetKind() == "Secret" {
		liveSpec, desiredSpec = secretData(liveSpec, desiredSpec)
	}
	d.compare("", desiredSpec, liveSpec)
	if len(d.fields) == 0 && live.GetAnnotations()[AnnotationDigest] != desired.GetAnnotations()[AnnotationDigest] {
		d.fields = append(d.fields, "metadata.annotations."+AnnotationDigest)
	}
	sort.Strings(d.fields)
	return len(d.fields) > 0, d.fields
}

const maxDriftFields = 20

type differ struct{ fields []string }

func (d *differ) add(path string) {
	if len(d.fields) < maxDriftFields {
		d.fields = append(d.fields, strings.TrimPrefix(path, "."))
	}
}

// compare records every path where want is not contained in got.
func (d *differ) compare(path string, want, got any) {
	switch w := want.(type) {
	case nil:
		return // a null in Git asks for the field to be absent: SSA removes it, nothing to compare
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			if len(w) == 0 && got == nil {
				return
			}
			d.add(path)
			return
		}
		for k, wv := range w {
			if path == "" && (k == "metadata") {
				d.compareMetadata(wv, g[k])
				continue
			}
			d.compare(path+"."+k, wv, g[k])
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			if len(w) == 0 && got == nil {
				return
			}
			d.add(path)
			return
		}
		if len(w) != len(g) {
			d.add(path)
			return
		}
		for i := range w {
			d.compare(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])
		}
	default:
		if !scalarEqual(path, want, got) {
			d.add(path)
		}
	}
}

// compareMetadata compares only labels and annotations: names and namespaces match by lookup,
// and the rest of metadata belongs to the API server.
func (d *differ) compareMetadata(want, got any) {
	w, _ := want.(map[string]any)
	g, _ := got.(map[string]any)
	for _, k := range []string{"labels", "annotations"} {
		wm, _ := w[k].(map[string]any)
		gm, _ := g[k].(map[string]any)
		for key, wv := range wm {
			if key == AnnotationDigest {
				continue
			}
			if gv, ok := gm[key]; !ok || !reflect.DeepEqual(wv, gv) {
				d.add("metadata." + k + "." + key)
			}
		}
	}
}

// scalarEqual compares two JSON scalars: numbers by value (JSON decodes them as int64 or float64)
// and resource quantities under resources, limits, requests and hard by amount ("1000m" is "1").
func scalarEqual(path string, want, got any) bool {
	if reflect.DeepEqual(want, got) {
		return true
	}
	if wf, ok := number(want); ok {
		gf, ok := number(got)
		return ok && wf == gf
	}
	ws, wok := want.(string)
	gs, gok := got.(string)
	if wok && gok && isQuantityPath(path) {
		wq, err1 := resource.ParseQuantity(ws)
		gq, err2 := resource.ParseQuantity(gs)
		return err1 == nil && err2 == nil && wq.Cmp(gq) == 0
	}
	if wok {
		if gf, ok := number(got); ok { // a quantity written as a number: cpu: 1
			if wq, err := resource.ParseQuantity(ws); err == nil && isQuantityPath(path) {
				return wq.AsApproximateFloat64() == gf
			}
		}
	}
	if gok && isQuantityPath(path) {
		if wf, ok := number(want); ok {
			if gq, err := resource.ParseQuantity(gs); err == nil {
				return gq.AsApproximateFloat64() == wf
			}
		}
	}
	return false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func isQuantityPath(path string) bool {
	for _, p := range []string{".resources.", ".limits.", ".requests.", ".hard.", ".capacity."} {
		if strings.Contains(path+".", p) {
			return true
		}
	}
	return false
}

func withoutStatus(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if k != "status" {
			out[k] = v
		}
	}
	return out
}

// secretData folds a desired Secret's stringData into data, base64-encoded as the API server
// stores it, so a Secret written with stringData is not drift forever.
func secretData(live, desired map[string]any) (map[string]any, map[string]any) {
	sd, ok := desired["stringData"].(map[string]any)
	if !ok {
		return live, desired
	}
	out := make(map[string]any, len(desired))
	for k, v := range desired {
		if k != "stringData" {
			out[k] = v
		}
	}
	data := map[string]any{}
	if d, ok := desired["data"].(map[string]any); ok {
		for k, v := range d {
			data[k] = v
		}
	}
	for k, v := range sd {
		if s, ok := v.(string); ok {
			data[k] = base64.StdEncoding.EncodeToString([]byte(s))
		}
	}
	out["data"] = data
	return live, out
}
