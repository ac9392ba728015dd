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
	r := compareObjects(live, desired)
	return r.drifted(), r.fields
}

// comparison is the outcome of comparing a live object with its desired object.
type comparison struct {
	// fields are the paths that differ (at most maxDriftFields), sorted.
	fields []string
	// desired and live are the two objects cut down to what was compared, for the diff people
	// read: the fields Git sets (no status; a Secret's stringData folded into data; of metadata,
	// the name, namespace, labels and annotations but not the digest), with live's value where
	// live lacks none. Where the two are equal by the comparison's rules ("1000m" is "1", 1 is
	// 1.0) live shows desired's value, so the sides print the same unless a field differs.
	desired, live map[string]any
}

func (r comparison) drifted() bool { return len(r.fields) > 0 }

// compareObjects compares live with desired (see Differs). Drift and Diff both come here, so
// whatever it treats as equal is neither drift nor a line of a diff.
func compareObjects(live, desired *unstructured.Unstructured) comparison {
	desiredSpec := withoutStatus(desired.Object)
	liveSpec := withoutStatus(live.Object)
	if isSecret(desired) {
		desiredSpec = foldStringData(desiredSpec)
	}
	d := &differ{}
	w, g, _ := d.walk("", desiredSpec, liveSpec, true)
	if len(d.fields) == 0 && live.GetAnnotations()[AnnotationDigest] != desired.GetAnnotations()[AnnotationDigest] {
		d.fields = append(d.fields, "metadata.annotations."+AnnotationDigest)
	}
	sort.Strings(d.fields)
	wm, _ := w.(map[string]any)
	gm, _ := g.(map[string]any)
	return comparison{fields: d.fields, desired: wm, live: gm}
}

const maxDriftFields = 20

// differ collects the paths that differ; a muted one only cuts values down for display.
type differ struct {
	fields []string
	mute   bool
}

func (d *differ) add(path string) {
	if !d.mute && len(d.fields) < maxDriftFields {
		d.fields = append(d.fields, strings.TrimPrefix(path, "."))
	}
}

// walk records every path where want (Git's value at path) is not contained in got (live's;
// present says whether live has the field at all). It returns both values cut down to what it
// compared (want's keys, recursively), with got given as want wherever the two are equal, and
// whether live has anything there.
func (d *differ) walk(path string, want, got any, present bool) (any, any, bool) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			if len(w) == 0 && got == nil {
				return w, w, true // {} in Git and nothing live: the same
			}
			d.add(path)
			return w, got, present
		}
		return d.walkMap(path, w, g)
	case []any:
		g, ok := got.([]any)
		if !ok {
			if len(w) == 0 && got == nil {
				return w, w, true
			}
			d.add(path)
			return w, got, present
		}
		return d.walkList(path, w, g)
	}
	if scalarEqual(path, want, got) {
		return want, want, true
	}
	d.add(path)
	return want, got, present
}

func (d *differ) walkMap(path string, want, got map[string]any) (any, any, bool) {
	w := make(map[string]any, len(want))
	g := make(map[string]any, len(want))
	for k, wv := range want {
		if wv == nil {
			continue // a null in Git asks for the field to be absent: SSA removes it, nothing to compare
		}
		if path == "" && k == "metadata" {
			w[k], g[k] = d.walkMetadata(wv, got[k])
			continue
		}
		gv, present := got[k]
		ww, gg, ok := d.walk(path+"."+k, wv, gv, present)
		w[k] = ww
		if ok {
			g[k] = gg
		}
	}
	return w, g, true
}

// walkList compares lists item by item; lists of different lengths differ as a whole (the path of
// the list), and are cut down for display item by item as far as both go.
func (d *differ) walkList(path string, want, got []any) (any, any, bool) {
	if len(want) != len(got) {
		d.add(path)
		d = &differ{mute: true}
	}
	w := make([]any, len(want))
	g := make([]any, 0, len(got))
	for i := range want {
		if want[i] == nil {
			if i < len(got) {
				g = append(g, nil) // not compared: shown the same on both sides
			}
			continue
		}
		if i >= len(got) {
			w[i] = want[i]
			continue
		}
		ww, gg, _ := d.walk(fmt.Sprintf("%s[%d]", path, i), want[i], got[i], true)
		w[i] = ww
		g = append(g, gg)
	}
	for i := len(want); i < len(got); i++ {
		g = append(g, got[i])
	}
	return w, g, true
}

// walkMetadata compares only labels and annotations (the digest aside): names and namespaces
// match by lookup, and the rest of metadata belongs to the API server. For display it keeps the
// name and namespace, the same on both sides.
func (d *differ) walkMetadata(want, got any) (map[string]any, map[string]any) {
	wm, _ := want.(map[string]any)
	gm, _ := got.(map[string]any)
	w, g := map[string]any{}, map[string]any{}
	for _, k := range []string{"name", "namespace"} {
		if v, ok := wm[k]; ok && v != nil {
			w[k], g[k] = v, v
		}
	}
	for _, k := range []string{"labels", "annotations"} {
		wk, _ := wm[k].(map[string]any)
		gk, _ := gm[k].(map[string]any)
		ws, gs := map[string]any{}, map[string]any{}
		for key, wv := range wk {
			if key == AnnotationDigest || wv == nil {
				continue
			}
			gv, ok := gk[key]
			if ok && reflect.DeepEqual(wv, gv) {
				ws[key], gs[key] = wv, wv
				continue
			}
			d.add("metadata." + k + "." + key)
			ws[key] = wv
			if ok {
				gs[key] = gv
			}
		}
		if len(ws) > 0 {
			w[k] = ws
		}
		if len(gs) > 0 {
			g[k] = gs
		}
	}
	return w, g
}

// contains reports whether want is contained in got as Drift compares them.
func contains(want, got any) bool {
	d := &differ{}
	d.walk(".", want, got, got != nil)
	return len(d.fields) == 0
}

// scalarEqual compares two JSON scalars: numbers by value (JSON decodes them as int64 or float64)
// and resource quantities under resources, limits, requests and hard by amount ("1000m" is "1").
func scalarEqual(path string, want, got any) bool {
	if reflect.DeepEqual(want, got) {
		return true
	}
	ws, wok := want.(string)
	gs, gok := got.(string)
	if wf, ok := number(want); ok {
		if gf, ok := number(got); ok {
			return wf == gf
		}
		if gok && isQuantityPath(path) { // Git writes cpu: 1, the API server stores "1"
			gq, err := resource.ParseQuantity(gs)
			return err == nil && gq.AsApproximateFloat64() == wf
		}
		return false
	}
	if !wok || !isQuantityPath(path) {
		return false
	}
	wq, err := resource.ParseQuantity(ws)
	if err != nil {
		return false
	}
	if gok {
		gq, err := resource.ParseQuantity(gs)
		return err == nil && wq.Cmp(gq) == 0
	}
	if gf, ok := number(got); ok { // a quantity stored as a number
		return wq.AsApproximateFloat64() == gf
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

func isSecret(o *unstructured.Unstructured) bool {
	gvk := o.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// foldStringData returns a desired Secret with its stringData folded into data, base64-encoded as
// the API server stores it, so a Secret written with stringData is not drift forever.
func foldStringData(desired map[string]any) map[string]any {
	sd, ok := desired["stringData"].(map[string]any)
	if !ok {
		return desired
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
	return out
}
