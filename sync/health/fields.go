package health

import (
	"encoding/json"
	"math"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The readers below take what a field holds without failing: a missing or mistyped field reads as
// the default. Health is a judgement of what is there; a malformed status is not an error here.

// field is the value at path, or nil.
func field(obj *unstructured.Unstructured, path ...string) any {
	v, ok, err := unstructured.NestedFieldNoCopy(obj.Object, path...)
	if !ok || err != nil {
		return nil
	}
	return v
}

// intField is the integer at path, or def. It accepts the int64 of the API server's decoder, the
// float64 of a plain JSON decoder and the json.Number of a decoder that keeps numbers.
func intField(obj *unstructured.Unstructured, def int64, path ...string) int64 {
	n, ok := asInt(field(obj, path...))
	if !ok {
		return def
	}
	return n
}

// optionalInt is the integer at path and whether there is one.
func optionalInt(obj *unstructured.Unstructured, path ...string) (int64, bool) {
	return asInt(field(obj, path...))
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return 0, false
		}
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// stringField is the string at path, or "".
func stringField(obj *unstructured.Unstructured, path ...string) string {
	s, _ := field(obj, path...).(string)
	return s
}

// boolField is the boolean at path, or false.
func boolField(obj *unstructured.Unstructured, path ...string) bool {
	b, _ := field(obj, path...).(bool)
	return b
}

// maps is the list of objects at path; entries that are not objects are skipped.
func maps(obj *unstructured.Unstructured, path ...string) []map[string]any {
	list, _ := field(obj, path...).([]any)
	out := make([]map[string]any, 0, len(list))
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// str is the string under key of m, or "".
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// nested is the object at path under m, or nil.
func nested(m map[string]any, path ...string) map[string]any {
	for _, key := range path {
		next, ok := m[key].(map[string]any)
		if !ok {
			return nil
		}
		m = next
	}
	return m
}

// generation is metadata.generation. unstructured's GetGeneration only reads int64.
func generation(obj *unstructured.Unstructured) int64 {
	return intField(obj, 0, "metadata", "generation")
}

// observedBehind reports whether status.observedGeneration is below metadata.generation; a
// missing observedGeneration counts as 0.
func observedBehind(obj *unstructured.Unstructured) bool {
	return intField(obj, 0, "status", "observedGeneration") < generation(obj)
}

// condition is one entry of status.conditions, in any of the shapes Kubernetes kinds use
// (metav1.Condition or a kind's own type with the same type/status/reason/message fields).
type condition struct {
	Type    string
	Status  string
	Reason  string
	Message string
	// ObservedGeneration is set when the condition carries one (metav1.Condition).
	ObservedGeneration    int64
	HasObservedGeneration bool
}

// isTrue and isFalse compare the condition's status.
func (c condition) isTrue() bool  { return c.Status == "True" }
func (c condition) isFalse() bool { return c.Status == "False" }

// text is the condition's message, or its reason when it has no message.
func (c condition) text() string {
	if c.Message != "" {
		return c.Message
	}
	return c.Reason
}

// conditions reads status.conditions.
func conditions(obj *unstructured.Unstructured) []condition {
	return toConditions(maps(obj, "status", "conditions"))
}

func toConditions(list []map[string]any) []condition {
	out := make([]condition, 0, len(list))
	for _, m := range list {
		c := condition{Type: str(m, "type"), Status: str(m, "status"), Reason: str(m, "reason"), Message: str(m, "message")}
		c.ObservedGeneration, c.HasObservedGeneration = asInt(m["observedGeneration"])
		out = append(out, c)
	}
	return out
}

// find is the first condition of type t.
func find(conds []condition, t string) (condition, bool) {
	for _, c := range conds {
		if c.Type == t {
			return c, true
		}
	}
	return condition{}, false
}

// parseGeneration reads a generation written as a string (Argo Rollouts' status fields).
func parseGeneration(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
