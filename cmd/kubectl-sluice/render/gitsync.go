package render

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/inventory"
)

// Column widths of the per-object results of `get sync`: the object (after a four-space indent),
// the result (with its icon on a terminal); the message takes the rest of Width or, when longer, the lines below.
const (
	objectCol = 30
	resultCol = 15
	msgCol    = Width - 4 - objectCol - 2 - resultCol - 2
)

// GitSync writes `get sync`: the source, the revision and its commit message, sync and health
// status, the Ready condition when it is not True, the last operation with its per-object results
// grouped by phase and wave, what is out of sync, and the history.
func GitSync(w io.Writer, gs *v1alpha1.GitSync, now time.Time, style Style) {
	line := func(label, value string) {
		fmt.Fprintln(w, strings.TrimRight(cutStyled(fmt.Sprintf("%-16s%s", label, value), Width), " "))
	}
	lines := func(label, text string) {
		for i, l := range wrap(text, Width-16) {
			if i > 0 {
				label = ""
			}
			line(label, l)
		}
	}
	st := gs.Status
	line("Name:", gs.Name)
	line("Namespace:", gs.Namespace)
	line("Source:", gs.Spec.Source.RepoURL)
	line("  Path:", orDefault(gs.Spec.Source.Path, "(root)"))
	line("  Target:", orDefault(gs.Spec.Source.TargetRevision, "HEAD"))
	if st.Sync != nil && st.Sync.Revision != "" {
		lines("Revision:", strings.TrimSpace(shortRev(st.Sync)+" "+st.Sync.CommitMessage))
	}
	syncWord, health := v1alpha1.SyncStatusUnknown, v1alpha1.HealthUnknown
	if st.Sync != nil && st.Sync.Status != "" {
		syncWord = st.Sync.Status
	}
	if st.Health != nil && st.Health.Status != "" {
		health = st.Health.Status
	}
	s, _ := style.word(syncWord)
	line("Sync:", s)
	h, _ := style.word(health)
	line("Health:", h)
	if st.Health != nil && st.Health.Message != "" {
		lines("  Message:", st.Health.Message)
	}
	if gs.Spec.Suspend {
		line("Suspended:", "true")
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); c != nil && c.Status != metav1.ConditionTrue {
		lines("Ready:", string(c.Status)+" "+c.Reason)
		if c.Message != "" {
			lines("  Message:", c.Message)
		}
	}
	if op := st.OperationState; op != nil {
		operation(w, gs, op, now, style, line, lines)
	}
	if st.Sync != nil && len(st.Sync.OutOfSync) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Out of sync:")
		for _, o := range st.Sync.OutOfSync {
			for i, l := range wrap(o, Width-4) {
				prefix := "  - "
				if i > 0 {
					prefix = "    "
				}
				fmt.Fprintln(w, prefix+l)
			}
		}
	}
	if len(st.History) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "History:")
		rows := [][]cell{plainCells([]string{"  REVISION", "DEPLOYED", "RESULT"})}
		for _, e := range st.History {
			rows = append(rows, []cell{plain("  " + short(e.Revision)), plain(age(e.DeployedAt, now) + " ago"), style.cell(e.Result, "")})
		}
		table(w, rows)
	}
}

// operation writes the last operation: its phase, times, message, and its results by group.
func operation(w io.Writer, gs *v1alpha1.GitSync, op *v1alpha1.OperationState, now time.Time, style Style,
	line func(string, string), lines func(string, string)) {
	phase, _ := style.word(op.Phase)
	when := ""
	if op.StartedAt != nil {
		when = "started " + age(*op.StartedAt, now) + " ago"
		if op.FinishedAt != nil {
			when += ", took " + took(op.FinishedAt.Sub(op.StartedAt.Time))
		}
	}
	if op.RetryCount > 0 {
		when = strings.TrimPrefix(when+", retry "+strconv.FormatInt(op.RetryCount, 10), ", ")
	}
	if when != "" {
		phase += " (" + when + ")"
	}
	fmt.Fprintln(w)
	line("Operation:", phase)
	if op.Revision != "" && (gs.Status.Sync == nil || gs.Status.Sync.Revision != op.Revision) {
		line("  Revision:", short(op.Revision))
	}
	if op.Message != "" {
		lines("  Message:", op.Message)
	}
	for _, g := range groups(op.Resources) {
		fmt.Fprintln(w, g.title)
		for _, r := range g.results {
			result(w, gs, r, style)
		}
	}
}

// resultGroup is the results of one phase and wave.
type resultGroup struct {
	title   string
	results []v1alpha1.ResourceResult
}

// groups orders the results by phase (PreSync, Sync, PostSync, SyncFail, then any other) and
// wave, keeping the controller's order within a group.
func groups(rs []v1alpha1.ResourceResult) []resultGroup {
	type key struct {
		phase string
		wave  int
	}
	rank := map[string]int{v1alpha1.HookPreSync: 0, v1alpha1.HookSync: 1, v1alpha1.HookPostSync: 2, v1alpha1.HookSyncFail: 3}
	rankOf := func(p string) int {
		if r, ok := rank[p]; ok {
			return r
		}
		return len(rank)
	}
	byKey := map[key][]v1alpha1.ResourceResult{}
	var keys []key
	for _, r := range rs {
		k := key{orDefault(r.Phase, v1alpha1.HookSync), r.Wave}
		if _, seen := byKey[k]; !seen {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	sort.SliceStable(keys, func(i, j int) bool {
		if a, b := rankOf(keys[i].phase), rankOf(keys[j].phase); a != b {
			return a < b
		}
		if keys[i].phase != keys[j].phase {
			return keys[i].phase < keys[j].phase
		}
		return keys[i].wave < keys[j].wave
	})
	out := make([]resultGroup, 0, len(keys))
	for _, k := range keys {
		out = append(out, resultGroup{title: fmt.Sprintf("  %s, wave %d", k.phase, k.wave), results: byKey[k]})
	}
	return out
}

// result writes one object's result: its name, the result word and the message (on the same line
// when it fits, else wrapped below; a name longer than its column gets a line of its own).
func result(w io.Writer, gs *v1alpha1.GitSync, r v1alpha1.ResourceResult, style Style) {
	name := objectName(gs, r)
	word := style.cell(r.Result, "")
	if n := utf8.RuneCountInString(name); n > objectCol {
		// A name is never cut (it is what the next command takes): the result goes below it.
		fmt.Fprintln(w, "    "+name)
		name = ""
	}
	start := "    " + pad(name, utf8.RuneCountInString(name), objectCol) + "  "
	msg := strings.Join(strings.Fields(r.Message), " ")
	if utf8.RuneCountInString(msg) <= msgCol {
		fmt.Fprintln(w, strings.TrimRight(start+pad(word.text, word.width, resultCol)+"  "+msg, " "))
		return
	}
	fmt.Fprintln(w, start+word.text)
	for _, l := range wrap(msg, Width-8) {
		fmt.Fprintln(w, "        "+l)
	}
}

// objectName is Kind/name of a result (the live name of a generateName hook), with the namespace
// in brackets when it is not the GitSync's destination.
func objectName(gs *v1alpha1.GitSync, r v1alpha1.ResourceResult) string {
	id, err := inventory.Parse(r.ID)
	if err != nil {
		return r.ID
	}
	name := id.Name
	if r.LiveName != "" {
		name = r.LiveName
	}
	name = id.Kind + "/" + name
	if dest := orDefault(gs.Spec.Destination.Namespace, gs.Namespace); id.Namespace != "" && id.Namespace != dest {
		name += " (" + id.Namespace + ")"
	}
	return name
}

// SyncList writes the table of `list syncs`: NAME REVISION SYNC HEALTH OPERATION AGE, with
// NAMESPACE first when withNamespace.
func SyncList(w io.Writer, items []v1alpha1.GitSync, withNamespace bool, now time.Time, style Style) {
	if len(items) == 0 {
		fmt.Fprintln(w, "No GitSyncs found.")
		return
	}
	header := []string{"NAME", "PATH", "REVISION", "SYNC", "HEALTH", "OPERATION", "AGE"}
	if withNamespace {
		header = append([]string{"NAMESPACE"}, header...)
	}
	rows := [][]cell{plainCells(header)}
	for i := range items {
		gs := &items[i]
		rev, syncWord, health, op := "", v1alpha1.SyncStatusUnknown, v1alpha1.HealthUnknown, "-"
		if s := gs.Status.Sync; s != nil {
			rev = shortRev(s)
			syncWord = orDefault(s.Status, syncWord)
		}
		if h := gs.Status.Health; h != nil {
			health = orDefault(h.Status, health)
		}
		opCell := plain(op)
		if o := gs.Status.OperationState; o != nil {
			opCell = style.cell(o.Phase, "")
		}
		r := []cell{
			plain(gs.Name), plain(fit(orDefault(gs.Spec.Source.Path, "."), 16)), plain(orDefault(rev, "-")),
			style.cell(syncWord, ""), style.cell(health, ""), opCell, plain(age(gs.CreationTimestamp, now)),
		}
		if withNamespace {
			r = append([]cell{plain(gs.Namespace)}, r...)
		}
		rows = append(rows, r)
	}
	table(w, rows)
}

func shortRev(s *v1alpha1.SyncStatus) string {
	if s.ShortRevision != "" {
		return s.ShortRevision
	}
	return short(s.Revision)
}

func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// took is a duration as people read it: 850ms, 12s, 3m4s.
func took(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
