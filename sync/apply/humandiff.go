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
// owns, as a unified YAML diff; "" when there is none. It reads the same comparison as Drift, so
// it is "" exactly when Drift finds the objects in sync: what Drift treats as equal (a Secret's
// stringData and its stored data, resource quantities by amount, the fields other controllers own
// or spec.ignoreDifferences names) prints the same on both sides. Where Drift finds a difference
// the YAML does not show (the digest annotation alone: the live object was applied from other
// YAML), it names the fields that differ instead. A nil live object is missing: every line is
// added. Fields the API server adds (defaults, status, uid) are not shown, and a Secret's values
// never are (see maskSecretData).
func (c *Comparer) Diff(live, desired *unstructured.Unstructured) (string, error) {
	name := Describe(inventory.Of(desired))
	from, to := "live/"+name, "git/"+name
	if live == nil {
		want := forPeople(desired)
		if isSecret(desired) {
			maskSecretData(want)
		}
		wantYAML, err := yaml.Marshal(want)
		if err != nil {
			return "", fmt.Errorf("write %s from Git as YAML: %w", name, err)
		}
		return unifiedDiff(from, to, nil, lines(string(wantYAML))), nil
	}
	r := c.compare(live, desired)
	if isSecret(desired) {
		maskSecretData(r.desired, r.live)
	}
	wantYAML, err := yaml.Marshal(r.desired)
	if err != nil {
		return "", fmt.Errorf("write %s from Git as YAML: %w", name, err)
	}
	gotYAML, err := yaml.Marshal(r.live)
	if err != nil {
		return "", fmt.Errorf("write the live %s as YAML: %w", name, err)
	}
	text := unifiedDiff(from, to, lines(string(gotYAML)), lines(string(wantYAML)))
	if text == "" && r.drifted() {
		text = fieldsOnly(from, to, r.fields)
	}
	return text, nil
}

// fieldsOnly is the diff of objects that differ where their YAML does not show it: the header and
// a comment naming the fields Drift found.
func fieldsOnly(from, to string, fields []string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", from, to)
	sb.WriteString("# the fields Git sets print the same, but these differ:\n")
	for _, f := range fields {
		fmt.Fprintf(&sb, "#   %s\n", f)
		if f == "metadata.annotations."+AnnotationDigest {
			sb.WriteString("#   (the live object was applied from other YAML: Git changed in a way the fields it sets\n" +
				"#   do not show, such as a field removed from Git)\n")
		}
	}
	return sb.String()
}

// Secret values are masked in a diff: every value under data and stringData becomes a run of "+",
// the same run for values that are equal and a longer one for each other value of the key (Argo
// CD's scheme), so a diff shows which keys changed and never what they hold.
const secretMask = "++++++++"

// maskSecretData masks the data and stringData values of the given sides of one Secret diff (see
// secretMask), replacing the maps, never writing into them: they may be the objects' own.
func maskSecretData(sides ...map[string]any) {
	for _, section := range []string{"data", "stringData"} {
		masks := map[string]map[string]string{} // key -> value -> its mask
		mask := func(k string, v any) string {
			byValue := masks[k]
			if byValue == nil {
				byValue = map[string]string{}
				masks[k] = byValue
			}
			text := fmt.Sprint(v)
			m, ok := byValue[text]
			if !ok {
				m = secretMask + strings.Repeat("++++", len(byValue))
				byValue[text] = m
			}
			return m
		}
		for _, side := range sides {
			v, ok := side[section]
			if !ok || v == nil {
				continue
			}
			values, isMap := v.(map[string]any)
			if !isMap {
				side[section] = mask("", v)
				continue
			}
			masked := make(map[string]any, len(values))
			for k, val := range values {
				masked[k] = mask(k, val)
			}
			side[section] = masked
		}
	}
}

// forPeople is a desired object as a diff shows it when nothing is live: without status and the
// sync's digest, and a Secret's stringData folded into data as the comparison folds it.
func forPeople(desired *unstructured.Unstructured) map[string]any {
	out := withoutStatus(desired.Object)
	if isSecret(desired) {
		out = foldStringData(out)
	}
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

// unifiedDiff writes the unified diff of a (from) and b (to), "" when they are equal.
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

// maxLCSCells bounds the table of the longest common subsequence (4 bytes a cell): a middle part
// larger than this is written as removed then added, a correct diff if not the shortest.
const maxLCSCells = 1 << 22

// diffLines returns the edit script from a to b. The common head and tail are matched first, so
// the quadratic longest-common-subsequence table covers only the lines between them: a large
// object with a small change costs little.
func diffLines(a, b []string) []lineOp {
	head := 0
	for head < len(a) && head < len(b) && a[head] == b[head] {
		head++
	}
	tail := 0
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	ops := make([]lineOp, 0, len(a)+len(b)-head-tail)
	for i := 0; i < head; i++ {
		ops = append(ops, lineOp{' ', a[i], i, i})
	}
	ops = append(ops, middleOps(a[head:len(a)-tail], b[head:len(b)-tail], head, head)...)
	for k := tail; k > 0; k-- {
		i, j := len(a)-k, len(b)-k
		ops = append(ops, lineOp{' ', a[i], i, j})
	}
	return ops
}

// middleOps is the edit script from a to b, which start at lines a0 and b0 of the whole texts.
func middleOps(a, b []string, a0, b0 int) []lineOp {
	var ops []lineOp
	if len(a)*len(b) > maxLCSCells {
		for i, t := range a {
			ops = append(ops, lineOp{'-', t, a0 + i, b0})
		}
		for j, t := range b {
			ops = append(ops, lineOp{'+', t, a0 + len(a), b0 + j})
		}
		return ops
	}
	// lcs[i*w+j] is the length of the longest common subsequence of a[i:] and b[j:].
	w := len(b) + 1
	lcs := make([]int32, (len(a)+1)*w)
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, lineOp{' ', a[i], a0 + i, b0 + j})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
			ops = append(ops, lineOp{'-', a[i], a0 + i, b0 + j}) // removals before additions, as diff(1)
			i++
		default:
			ops = append(ops, lineOp{'+', b[j], a0 + i, b0 + j})
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
