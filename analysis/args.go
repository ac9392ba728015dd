package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// SecretLookup returns the value of key in the named Secret of the run's namespace.
type SecretLookup func(ctx context.Context, name, key string) (string, error)

// argPattern matches {{args.NAME}}, with optional spaces inside the braces as Argo allows.
var argPattern = regexp.MustCompile(`\{\{\s*args\.([^{}\s]+)\s*\}\}`)

// ResolveArgs returns the value of every argument: its value, else the Secret key it refers to
// (through secret), else the field of owner it refers to (owner is the object as an unstructured
// map; nil when there is none). An argument with none of these is an error naming it.
func ResolveArgs(ctx context.Context, args []v1alpha1.Argument, secret SecretLookup, owner map[string]any) (map[string]string, error) {
	values := make(map[string]string, len(args))
	for _, a := range args {
		v, err := resolveArg(ctx, a, secret, owner)
		if err != nil {
			return nil, fmt.Errorf("resolve argument %q: %w", a.Name, err)
		}
		values[a.Name] = v
	}
	return values, nil
}

func resolveArg(ctx context.Context, a v1alpha1.Argument, secret SecretLookup, owner map[string]any) (string, error) {
	switch {
	case a.Value != nil:
		return *a.Value, nil
	case a.ValueFrom != nil && a.ValueFrom.SecretKeyRef != nil:
		ref := a.ValueFrom.SecretKeyRef
		if secret == nil {
			return "", fmt.Errorf("secret %s cannot be read here", ref.Name)
		}
		v, err := secret(ctx, ref.Name, ref.Key)
		if err != nil {
			return "", fmt.Errorf("read key %q of secret %s: %w", ref.Key, ref.Name, err)
		}
		return v, nil
	case a.ValueFrom != nil && a.ValueFrom.FieldRef != nil:
		if owner == nil {
			return "", fmt.Errorf("fieldRef %q has no object to read from", a.ValueFrom.FieldRef.FieldPath)
		}
		return FieldValue(owner, a.ValueFrom.FieldRef.FieldPath)
	}
	return "", errors.New("argument has no value")
}

// SubstituteArgs replaces {{args.NAME}} in every string field of metric (queries, URLs, headers,
// conditions, the Job spec, int-or-string counts and limits) with values[NAME]. A placeholder
// without a value is an error that names every missing argument.
func SubstituteArgs(metric v1alpha1.Metric, values map[string]string) (v1alpha1.Metric, error) {
	raw, err := json.Marshal(metric)
	if err != nil {
		return metric, fmt.Errorf("encode metric %q: %w", metric.Name, err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return metric, fmt.Errorf("decode metric %q: %w", metric.Name, err)
	}
	missing := map[string]bool{}
	tree = substituteTree(tree, values, missing)
	if len(missing) > 0 {
		names := make([]string, 0, len(missing))
		for n := range missing {
			names = append(names, "args."+n)
		}
		slices.Sort(names)
		return metric, fmt.Errorf("metric %q: no value for %s", metric.Name, strings.Join(names, ", "))
	}
	if raw, err = json.Marshal(tree); err != nil {
		return metric, fmt.Errorf("encode metric %q: %w", metric.Name, err)
	}
	var out v1alpha1.Metric
	if err := json.Unmarshal(raw, &out); err != nil {
		return metric, fmt.Errorf("metric %q after argument substitution: %w", metric.Name, err)
	}
	return out, nil
}

func substituteTree(node any, values map[string]string, missing map[string]bool) any {
	switch n := node.(type) {
	case string:
		return argPattern.ReplaceAllStringFunc(n, func(ph string) string {
			name := argPattern.FindStringSubmatch(ph)[1]
			v, ok := values[name]
			if !ok {
				missing[name] = true
			}
			return v
		})
	case map[string]any:
		for k, v := range n {
			n[k] = substituteTree(v, values, missing)
		}
	case []any:
		for i, v := range n {
			n[i] = substituteTree(v, values, missing)
		}
	}
	return node
}

// SubstituteMetrics applies SubstituteArgs to every metric.
func SubstituteMetrics(metrics []v1alpha1.Metric, values map[string]string) ([]v1alpha1.Metric, error) {
	out := make([]v1alpha1.Metric, 0, len(metrics))
	for _, m := range metrics {
		s, err := SubstituteArgs(m, values)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ReferencedArgs returns the names of the arguments metrics refer to, sorted, without duplicates.
func ReferencedArgs(metrics []v1alpha1.Metric) []string {
	var names []string
	for _, m := range metrics {
		raw, err := json.Marshal(m)
		if err != nil {
			continue
		}
		// Placeholders are plain ASCII, so matching the encoded JSON finds them all.
		for _, match := range argPattern.FindAllStringSubmatch(string(raw), -1) {
			names = append(names, match[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// FieldValue reads a field of an object given as an unstructured map, by a path such as
// "metadata.name", "metadata.labels['app']", "metadata.annotations[\"a/b\"]" or
// "spec.template.spec.containers[0].image". Strings are returned as they are, other values as
// JSON.
func FieldValue(obj map[string]any, path string) (string, error) {
	steps, err := parseFieldPath(path)
	if err != nil {
		return "", err
	}
	var cur any = obj
	for _, s := range steps {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[s]
			if !ok {
				return "", fmt.Errorf("field %s: %q not found", path, s)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(c) {
				return "", fmt.Errorf("field %s: index %q out of range", path, s)
			}
			cur = c[i]
		default:
			return "", fmt.Errorf("field %s: %q is not an object or a list", path, s)
		}
	}
	if s, ok := cur.(string); ok {
		return s, nil
	}
	raw, err := json.Marshal(cur)
	if err != nil {
		return "", fmt.Errorf("field %s: %w", path, err)
	}
	return string(raw), nil
}

// parseFieldPath splits a.b['c.d'][0] into a, b, c.d, 0.
func parseFieldPath(path string) ([]string, error) {
	var steps []string
	rest := strings.TrimPrefix(strings.TrimSpace(path), ".")
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("field path %q: unclosed [", path)
			}
			key := strings.TrimSpace(rest[1:end])
			if len(key) >= 2 && (key[0] == '\'' || key[0] == '"') && key[len(key)-1] == key[0] {
				key = key[1 : len(key)-1]
			}
			steps, rest = append(steps, key), rest[end+1:]
		default:
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			steps, rest = append(steps, rest[:end]), rest[end:]
		}
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("field path %q is empty", path)
	}
	return steps, nil
}
