package apply

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/sync/inventory"
)

// ObjectDiff is what a sync would change in one object, for people to read.
type ObjectDiff struct {
	ID inventory.ID
	// Diff is a unified diff of the live object (---) against Git (+++), in YAML, on the fields Git
	// sets; empty when they agree.
	Diff string
}

// diffContext is the number of unchanged lines shown around a change.
const diffContext = 3

// Diff returns the difference between live and desired on the fields Git sets and no other writer
// owns (the same fields Drift compares), as a unified YAML diff; "" when there is none. A nil live
// object is missing: every line is added. Fields the API server adds (defaults, status, uid) are
// not shown.
func (c *Comparer) Diff(live, desired *unstructured.Unstructured) (string, error) {
	name := Describe(inventory.Of(desired))
	d := desired
	var projected map[string]any
	if live != nil {
		var l *unstructured.Unstructured
		l, d = c.normalize(live, desired)
		projected = project(l.Object, d.Object).(map[string]any)
	}
	want := forPeople(d.Object)
	wantYAML, err := yaml.Marshal(want)
	if err != nil {
		return "", fmt.Errorf("write %s from Git as YAML: %w", name, err)
	}
	var gotYAML []byte
	if projected != nil {
		if gotYAML, err = yaml.Marshal(forPeople(projected)); err != nil {
			return "", fmt.Errorf("write the live %s as YAML: %w", name, err)
		}
	}
	return unifiedDiff("live/"+name, "git/"+name, lines(string(gotYAML)), lines(string(wantYAML))), nil
}

// project returns the part of got that want sets: for each key of want, got's value under it
// (recursively into maps, and into lists of the same length item by item); got's own value where
// the shapes differ. Keys want does not set are left out.
func project(got, want any) any {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return got
		}
		out := make(map[string]any, len(w))
		for k, wv := range w {
			if gv, present := g[k]; present {
				out[k] = project(gv, wv)
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return got
		}
		out := make([]any, len(g))
		for i := range g {
			out[i] = project(g[i], w[i])
		}
		return out
	}
	return got
}

// forPeople drops what a reader of the diff does not need: status and the sync's digest.
func forPeople(obj map[string]any) map[string]any {
	out := withoutStatus(obj)
	md, ok := out["metadata"].(map[string]any)
	if !ok {
		return out
	}
	mdCopy := make(map[string]any, len(md))
	for k, v := range md {
		mdCopy[k] = v
	}
	if ann, ok := md["annotations"].(map[string]any); ok {
		annCopy := make(map[string]any, len(ann))
		for k, v := range ann {
			if k != AnnotationDigest {
				annCopy[k] = v
			}
		}
		if len(annCopy) == 0 {
			delete(mdCopy, "annotations")
		} else {
			mdCopy["annotations"] = annCopy
		}
	}
	out["metadata"] = mdCopy
	return out
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// unifiedDiff writes the unified diff of a (from) and b (to), "" when they are equal. It uses the
// longest common subsequence of lines; objects are small enough for the quadratic table.
func unifiedDiff(fromName, toName string, a, b []string) string {
	ops := diffLines(a, b)
	changed := false
	for _, op := range ops {
		if op.kind != ' ' {
			changed = true
			break
		}
	}
	if !changed {
		return ""
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", fromName, toName)
	for _, h := range hunks(ops) {
		fmt.Fprintf(&sb, "@@ -%s +%s @@\n", span(h.aStart, h.aLen), span(h.bStart, h.bLen))
		for _, op := range h.ops {
			sb.WriteByte(op.kind)
			sb.WriteString(op.text)
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}

type lineOp struct {
	kind byte // ' ', '-', '+'
	text string
	a, b int // line numbers (0-based) in a and b before this op
}

func diffLines(a, b []string) []lineOp {
	// lcs[i][j] is the length of the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []lineOp
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, lineOp{' ', a[i], i, j})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, lineOp{'-', a[i], i, j}) // removals before additions, as diff(1)
			i++
		default:
			ops = append(ops, lineOp{'+', b[j], i, j})
			j++
		}
	}
	return ops
}

type hunk struct {
	aStart, aLen, bStart, bLen int
	ops                        []lineOp
}

// hunks groups the changes with diffContext lines of context, merging groups that touch.
func hunks(ops []lineOp) []hunk {
	var out []hunk
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(0, i-diffContext)
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			next := end
			for next < len(ops) && ops[next].kind == ' ' {
				next++
			}
			if next < len(ops) && next-end <= 2*diffContext {
				end = next
				continue
			}
			end = min(len(ops), end+diffContext)
			break
		}
		h := hunk{aStart: ops[start].a, bStart: ops[start].b, ops: ops[start:end]}
		for _, op := range h.ops {
			if op.kind != '+' {
				h.aLen++
			}
			if op.kind != '-' {
				h.bLen++
			}
		}
		out = append(out, h)
		i = end
	}
	return out
}

// span is a hunk range as unified diffs write it: 1-based start, and the length when not 1.
func span(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

// Diffs returns the diff of every desired object that differs from its live object (live by
// inventory id; a missing one is added whole), in the order of desired.
func (c *Comparer) Diffs(live map[inventory.ID]*unstructured.Unstructured, desired []*unstructured.Unstructured) ([]ObjectDiff, error) {
	var out []ObjectDiff
	for _, d := range desired {
		id := inventory.Of(d)
		text, err := c.Diff(live[id], d)
		if err != nil {
			return nil, err
		}
		if text != "" {
			out = append(out, ObjectDiff{ID: id, Diff: text})
		}
	}
	return out, nil
}
