package apply

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// A path names fields of an unstructured object, one step per level. A step selects a map key,
// the list items whose field has one of some values (items), the list items an ownership rule
// picks (match), the list item with some field values or equal to a value (a managedFields key),
// a list index, or, for a JSON pointer token, whichever of a map key or list index the object
// holds there.
type path []step

type step struct {
	key   string
	index int // -1 when not an index step
	// atomic marks a step whose value server-side apply replaces whole when Git sets it (a map
	// with x-kubernetes-map-type atomic, a list without list-map keys): graft then fills in what
	// Git omits below it, since the apply would otherwise drop it.
	atomic bool
	// match: the list items an ownership rule picks, paired across objects by what they are.
	match *itemMatch
	// items: list items whose field itemField has one of itemValues.
	itemField  string
	itemValues []string
	// keyed: the list item with these field values (managedFields k:{...}).
	keyed map[string]any
	// value: the list item equal to this value (managedFields v:...).
	value    any
	hasValue bool
	// pointer: a JSON pointer token, a key of a map or an index of a list.
	pointer bool
}

// itemMatch picks list items by what they are rather than where they are (the backendRefs that
// name a Rollout's Services), and pairs an item of one object's list with the same item of the
// other object's list, so that a value is copied between the right items when Git and the cluster
// order or shape a list differently.
type itemMatch struct {
	selects func(item any) bool
	// pair returns the index of the item of src that dst[i] pairs with, or -1. It returns only
	// items selects picks.
	pair func(dst []any, i int, src []any) int
}

func key(k string) step { return step{key: k, index: -1} }
func itemsNamed(names []string) step {
	return step{itemField: "name", itemValues: names, index: -1}
}

// atomicKey is key(k) for a value server-side apply replaces whole (see step.atomic).
func atomicKey(k string) step {
	s := key(k)
	s.atomic = true
	return s
}

// matching is a step over the list items m picks.
func matching(m *itemMatch) step { return step{match: m, index: -1} }

// keys is a path of map keys, "spec.replicas".
func keys(dotted string) path {
	var p path
	for _, k := range strings.Split(dotted, ".") {
		p = append(p, key(k))
	}
	return p
}

func (p path) then(s ...step) path { return append(append(path{}, p...), s...) }

// parsePointer reads an RFC 6901 JSON pointer ("/spec/template/spec/containers/0/image").
func parsePointer(ptr string) (path, error) {
	if ptr == "" || ptr == "/" {
		return nil, fmt.Errorf("json pointer %q names the whole object", ptr)
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, fmt.Errorf("json pointer %q does not start with /", ptr)
	}
	var p path
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		p = append(p, step{key: tok, pointer: true, index: -1})
	}
	return p, nil
}

// matches returns the children of node a step selects: map values by key, list items by index.
// For a list, idx holds the indexes; for a map, the single key.
func (s step) matches(node any) (mapKey string, idx []int, ok bool) {
	switch n := node.(type) {
	case map[string]any:
		if s.index >= 0 || s.itemField != "" || s.keyed != nil || s.hasValue || s.match != nil {
			return "", nil, false
		}
		if _, present := n[s.key]; !present {
			return "", nil, false
		}
		return s.key, nil, true
	case []any:
		for i, item := range n {
			if s.selects(i, item) {
				idx = append(idx, i)
			}
		}
		return "", idx, len(idx) > 0
	}
	return "", nil, false
}

func (s step) selects(i int, item any) bool {
	switch {
	case s.match != nil:
		return s.match.selects(item)
	case s.index >= 0:
		return i == s.index
	case s.pointer:
		n, err := strconv.Atoi(s.key)
		return err == nil && n == i
	case s.itemField != "":
		m, _ := item.(map[string]any)
		v, _ := m[s.itemField].(string)
		for _, want := range s.itemValues {
			if v == want {
				return true
			}
		}
		return false
	case s.keyed != nil:
		m, _ := item.(map[string]any)
		for k, want := range s.keyed {
			if !scalarEqual("", want, m[k]) && !reflect.DeepEqual(want, m[k]) {
				return false
			}
		}
		return true
	case s.hasValue:
		return reflect.DeepEqual(s.value, item) || scalarEqual("", s.value, item)
	}
	return false
}

// strip removes what p names from obj, in place. Removing a list item removes it from the list.
func strip(obj map[string]any, p path) {
	stripAt(obj, p)
}

// stripAt removes p below node and returns the node to keep in its parent (a list shrinks).
func stripAt(node any, p path) any {
	if len(p) == 0 {
		return node
	}
	mapKey, idx, ok := p[0].matches(node)
	if !ok {
		return node
	}
	switch n := node.(type) {
	case map[string]any:
		if len(p) == 1 {
			delete(n, mapKey)
		} else {
			n[mapKey] = stripAt(n[mapKey], p[1:])
		}
		return n
	case []any:
		if len(p) == 1 {
			drop := map[int]bool{}
			for _, i := range idx {
				drop[i] = true
			}
			out := make([]any, 0, len(n)-len(idx))
			for i, item := range n {
				if !drop[i] {
					out = append(out, item)
				}
			}
			return out
		}
		for _, i := range idx {
			n[i] = stripAt(n[i], p[1:])
		}
		return n
	}
	return node
}

// graft copies the values p names from src (live) into dst (what will be applied) where dst holds
// the same structure: list steps pair items by position (index, pointer), by what they select
// (items, keyed) or as their match pairs them. A value src lacks is left as dst has it. It returns
// whether anything changed.
//
// Where dst lacks a key, fill decides. Outside an atomic value (fill false) the key is left out:
// Git does not set it, so the apply leaves it to its owner. Below a step marked atomic whose value
// dst has (graft passes fill on from there), the apply replaces that value whole and would drop
// the owner's field, so the key is filled in from src, with the maps leading to it. List items are
// never made up: an owned field is carried over only into an item Git has.
func graft(dst, src any, p path, fill bool) (any, bool) {
	if len(p) == 0 {
		if reflect.DeepEqual(dst, src) {
			return dst, false
		}
		return deepCopyJSON(src), true
	}
	inside := fill || p[0].atomic
	switch d := dst.(type) {
	case map[string]any:
		s, ok := src.(map[string]any)
		if !ok {
			return dst, false
		}
		k, _, ok := p[0].matches(s)
		if !ok || s[k] == nil {
			return dst, false
		}
		dv, present := d[k]
		if !present {
			if !fill {
				return dst, false // Git does not set it: the apply leaves it to its owner anyway
			}
			if len(p) == 1 {
				d[k] = deepCopyJSON(s[k])
				return d, true
			}
			if _, isMap := s[k].(map[string]any); !isMap {
				return dst, false // a list: its items are Git's to name
			}
			dv = map[string]any{}
		}
		v, changed := graft(dv, s[k], p[1:], inside)
		if changed {
			d[k] = v
		}
		return d, changed
	case []any:
		s, ok := src.([]any)
		if !ok {
			return dst, false
		}
		changed := false
		for i := range d {
			if !p[0].selects(i, d[i]) {
				continue
			}
			j := pairedItem(p[0], d, i, s)
			if j < 0 {
				continue
			}
			v, c := graft(d[i], s[j], p[1:], inside)
			if c {
				d[i], changed = v, true
			}
		}
		return d, changed
	}
	return dst, false
}

// pairedItem finds the item of src that item i of dst pairs with under s, or -1.
func pairedItem(s step, dst []any, i int, src []any) int {
	item := dst[i]
	switch {
	case s.match != nil:
		return s.match.pair(dst, i, src)
	case s.index >= 0 || s.pointer:
		if i < len(src) {
			return i
		}
		return -1
	case s.itemField != "":
		m, _ := item.(map[string]any)
		name, _ := m[s.itemField].(string)
		for j, it := range src {
			if sm, ok := it.(map[string]any); ok && sm[s.itemField] == name {
				return j
			}
		}
		return -1
	}
	for j, it := range src {
		if s.selects(j, it) {
			return j
		}
	}
	return -1
}

// lookup returns the value at a path of map keys.
func lookup(obj map[string]any, p path) (any, bool) {
	var node any = obj
	for _, s := range p {
		m, ok := node.(map[string]any)
		if !ok {
			return nil, false
		}
		if node, ok = m[s.key]; !ok {
			return nil, false
		}
	}
	return node, true
}

func deepCopyJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = deepCopyJSON(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = deepCopyJSON(x)
		}
		return out
	}
	return v
}
