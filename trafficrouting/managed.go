package trafficrouting

import "slices"

// ArrangeManaged returns items (the rules or routes of one route object) with the managed item
// called name replaced by item, or removed when item is nil. Managed items are the ones whose
// name is listed in managed (trafficRouting.managedRoutes); they are placed before every other
// item, in the order of managed, and the other items keep their order. items is not modified.
func ArrangeManaged[T any](items []T, managed []string, nameOf func(T) string, name string, item *T) []T {
	byName := map[string]T{}
	var others []T
	for _, it := range items {
		n := nameOf(it)
		if n != "" && slices.Contains(managed, n) {
			byName[n] = it
			continue
		}
		others = append(others, it)
	}
	if item != nil {
		byName[name] = *item
	} else {
		delete(byName, name)
	}
	out := make([]T, 0, len(byName)+len(others))
	for _, n := range managed {
		if it, ok := byName[n]; ok {
			out = append(out, it)
			delete(byName, n)
		}
	}
	return append(out, others...)
}

// RemoveManaged returns items without any managed item (one whose name is listed in managed).
func RemoveManaged[T any](items []T, managed []string, nameOf func(T) string) []T {
	out := make([]T, 0, len(items))
	for _, it := range items {
		if n := nameOf(it); n != "" && slices.Contains(managed, n) {
			continue
		}
		out = append(out, it)
	}
	return out
}
