package cli

// closest returns the name in names nearest to want by edit distance, if it is near enough to
// be a likely typo (at most a third of the length, and at least 2 edits allowed), else "".
func closest(want string, names []string) string {
	best, bestDist := "", -1
	for _, n := range names {
		d := editDistance(want, n)
		if bestDist < 0 || d < bestDist {
			best, bestDist = n, d
		}
	}
	if best == "" || bestDist > max(2, len(want)/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
