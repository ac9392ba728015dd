package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// List writes the table of `list rollouts`: NAME STRATEGY STATUS STEP SET-WEIGHT READY DESIRED
// UP-TO-DATE AVAILABLE, with NAMESPACE first when withNamespace.
func List(w io.Writer, rollouts []v1alpha1.Rollout, withNamespace bool, style Style) {
	if len(rollouts) == 0 {
		fmt.Fprintln(w, "No rollouts found.")
		return
	}
	header := []string{"NAME", "STRATEGY", "STATUS", "STEP", "SET-WEIGHT", "READY", "DESIRED", "UP-TO-DATE", "AVAILABLE"}
	if withNamespace {
		header = append([]string{"NAMESPACE"}, header...)
	}
	rows := [][]cell{plainCells(header)}
	for i := range rollouts {
		s := Summarize(&rollouts[i], []appsv1.ReplicaSet(nil))
		phase, width := style.word(string(s.Phase))
		r := []cell{
			plain(s.Name), plain(s.Strategy), {phase, width}, plain(s.Step), plain(s.SetWeight),
			plain(itoa(s.Ready)), plain(itoa(s.Desired)), plain(itoa(s.Updated)), plain(itoa(s.Available)),
		}
		if withNamespace {
			r = append([]cell{plain(s.Namespace)}, r...)
		}
		rows = append(rows, r)
	}
	table(w, rows)
}

type cell struct {
	text  string
	width int
}

func plain(s string) cell { return cell{s, utf8.RuneCountInString(s)} }

func plainCells(ss []string) []cell {
	out := make([]cell, len(ss))
	for i, s := range ss {
		out[i] = plain(s)
	}
	return out
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// table writes rows in columns two spaces apart, or one space apart when that does not fit
// Width. The nine columns of `list rollouts` take 73 columns with one space between them, so the
// table fits Width while names are at most 7 characters; longer names widen it rather than being
// cut, since a cut name cannot be passed to the next command.
func table(w io.Writer, rows [][]cell) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], c.width)
		}
	}
	gap, total := 2, 0
	for _, n := range widths {
		total += n + gap
	}
	if total-gap > Width {
		gap = 1
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			b.WriteString(c.text)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-c.width+gap))
			}
		}
		fmt.Fprintln(w, b.String())
	}
}
