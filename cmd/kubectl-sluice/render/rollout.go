package render

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Column widths of the tree: NAME (with the tree prefix), KIND, STATUS, AGE; INFO takes the rest
// of Width.
const (
	nameCol   = 32
	kindCol   = 11
	statusCol = 13
	ageCol    = 4
	infoCol   = Width - nameCol - kindCol - statusCol - ageCol - 4
)

// Rollout writes the header and the tree of `get rollout`.
func Rollout(w io.Writer, objs Objects, now time.Time, style Style) {
	header(w, objs, style)
	fmt.Fprintln(w)
	tree(w, objs, now, style)
}

func header(w io.Writer, objs Objects, style Style) {
	ro := objs.Rollout
	s := Summarize(ro, objs.ReplicaSets)
	line := func(label, value string) {
		fmt.Fprintln(w, strings.TrimRight(cutStyled(fmt.Sprintf("%-16s%s", label, value), Width), " "))
	}
	phase, _ := style.word(string(s.Phase))
	line("Name:", s.Name)
	line("Namespace:", s.Namespace)
	line("Status:", phase)
	if s.Message != "" {
		for i, m := range wrap(s.Message, Width-16) {
			if i == 0 {
				line("Message:", m)
			} else {
				line("", m)
			}
		}
	}
	line("Strategy:", s.Strategy)
	if s.Strategy == "Canary" {
		line("  Step:", s.Step)
		line("  SetWeight:", s.SetWeight)
		actual := s.ActualWeight
		if s.WeightsVerified != nil {
			actual += map[bool]string{true: " (verified)", false: " (not verified yet)"}[*s.WeightsVerified]
		}
		line("  ActualWeight:", actual)
	}
	images := Images(ro, objs.ReplicaSets)
	if len(images) == 0 {
		for _, c := range ro.Spec.Template.Spec.Containers {
			images = append(images, Image{Image: c.Image})
		}
	}
	for i, img := range images {
		label := ""
		if i == 0 {
			label = "Images:"
		}
		v := img.Image
		if len(img.Roles) > 0 {
			v += " (" + strings.Join(img.Roles, ", ") + ")"
		}
		line(label, v)
	}
	line("Replicas:", "")
	line("  Desired:", strconv.Itoa(int(s.Desired)))
	line("  Current:", strconv.Itoa(int(s.Current)))
	line("  Updated:", strconv.Itoa(int(s.Updated)))
	line("  Ready:", strconv.Itoa(int(s.Ready)))
	line("  Available:", strconv.Itoa(int(s.Available)))
}

// revision is one revision of the rollout in the tree: its ReplicaSets and AnalysisRuns.
type revision struct {
	number int64
	rss    []*appsv1.ReplicaSet
	runs   []*v1alpha1.AnalysisRun
}

func tree(w io.Writer, objs Objects, now time.Time, style Style) {
	ro := objs.Rollout
	s := Summarize(ro, objs.ReplicaSets)
	row(w, style, "", "", ro.Name, "Rollout", style.cell(string(s.Phase), ""), age(ro.CreationTimestamp, now), "")
	revs := revisions(objs)
	roles := Roles(ro)
	for i, rev := range revs {
		last := i == len(revs)-1
		fmt.Fprintln(w, cut(branch("", last)+fmt.Sprintf("# revision:%d", rev.number), Width))
		indent := childIndent("", last)
		n := len(rev.rss) + len(rev.runs)
		k := 0
		for _, rs := range rev.rss {
			k++
			replicaSet(w, objs, rs, roles[hashOf(rs)], indent, k == n, now, style)
		}
		for _, run := range rev.runs {
			k++
			analysisRun(w, run, indent, k == n, now, style)
		}
	}
}

func revisions(objs Objects) []*revision {
	byNumber := map[int64]*revision{}
	byHash := map[string]*revision{}
	get := func(n int64) *revision {
		if byNumber[n] == nil {
			byNumber[n] = &revision{number: n}
		}
		return byNumber[n]
	}
	for i := range objs.ReplicaSets {
		rs := &objs.ReplicaSets[i]
		n, _ := strconv.ParseInt(rs.Annotations[v1alpha1.RevisionAnnotationKey], 10, 64)
		rev := get(n)
		rev.rss = append(rev.rss, rs)
		byHash[hashOf(rs)] = rev
	}
	for i := range objs.AnalysisRuns {
		run := &objs.AnalysisRuns[i]
		rev := byHash[run.Labels[v1alpha1.PodTemplateHashLabelKey]]
		if rev == nil {
			n, _ := strconv.ParseInt(run.Annotations[v1alpha1.RevisionAnnotationKey], 10, 64)
			rev = get(n)
		}
		rev.runs = append(rev.runs, run)
	}
	var out []*revision
	for _, r := range byNumber {
		sort.Slice(r.rss, func(i, j int) bool { return r.rss[i].Name < r.rss[j].Name })
		sort.Slice(r.runs, func(i, j int) bool {
			a, b := r.runs[i], r.runs[j]
			if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
				return a.CreationTimestamp.Before(&b.CreationTimestamp)
			}
			return a.Name < b.Name
		})
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].number > out[j].number })
	return out
}

func replicaSet(w io.Writer, objs Objects, rs *appsv1.ReplicaSet, roles []string, indent string, last bool, now time.Time, style Style) {
	desired := int32(0)
	if rs.Spec.Replicas != nil {
		desired = *rs.Spec.Replicas
	}
	phase := "Progressing"
	switch {
	case desired == 0 && rs.Status.Replicas == 0:
		phase = "ScaledDown"
	case rs.Status.ReadyReplicas >= desired && rs.Status.Replicas == desired:
		phase = "Healthy"
	}
	info := append([]string(nil), roles...)
	if d, ok := rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey]; ok && desired > 0 {
		if t, err := time.Parse(time.RFC3339, d); err == nil {
			if left := t.Sub(now).Round(time.Second); left > 0 {
				info = append(info, "delay:"+left.String())
			} else {
				info = append(info, "delay:passed")
			}
		}
	}
	row(w, style, indent, branch("", last), rs.Name, "ReplicaSet", style.cell(phase, ""), age(rs.CreationTimestamp, now), strings.Join(info, ","))
	pods := podsOf(objs.Pods, rs)
	podIndent := childIndent(indent, last)
	for i, p := range pods {
		podRow(w, p, podIndent, i == len(pods)-1, now, style)
	}
}

func podsOf(pods []corev1.Pod, rs *appsv1.ReplicaSet) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == "ReplicaSet" && ref.Name == rs.Name {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func podRow(w io.Writer, p *corev1.Pod, indent string, last bool, now time.Time, style Style) {
	phase := string(p.Status.Phase)
	ready, total, restarts := 0, len(p.Spec.Containers), int32(0)
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			ready++
		}
		restarts += cs.RestartCount
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "ContainerCreating" {
			phase = "Error"
		}
	}
	if p.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	if phase == "" {
		phase = "Pending"
	}
	info := fmt.Sprintf("ready:%d/%d", ready, total)
	if restarts > 0 {
		info += fmt.Sprintf(",restarts:%d", restarts)
	}
	like := ""
	if phase == string(corev1.PodRunning) && ready == total {
		like = "Healthy"
	}
	row(w, style, indent, branch("", last), p.Name, "Pod", style.cell(phase, like), age(p.CreationTimestamp, now), info)
}

func analysisRun(w io.Writer, run *v1alpha1.AnalysisRun, indent string, last bool, now time.Time, style Style) {
	phase := string(run.Status.Phase)
	if phase == "" {
		phase = "Pending"
	}
	info := run.Labels[v1alpha1.RolloutTypeLabel]
	if i, ok := run.Labels[v1alpha1.RolloutCanaryStepIndexLabel]; ok {
		info = "step:" + i
	}
	info = strings.ToLower(info)
	row(w, style, indent, branch("", last), run.Name, "AnalysisRun", style.cell(phase, ""), age(run.CreationTimestamp, now), info)
	metricIndent := childIndent(indent, last)
	for i, m := range run.Status.MetricResults {
		text := branch(metricIndent, i == len(run.Status.MetricResults)-1) + metricLine(m, style)
		fmt.Fprintln(w, cutStyled(text, Width))
	}
}

// metricLine is one metric of a run: its phase, counts and last values.
func metricLine(m v1alpha1.MetricResult, style Style) string {
	phase, _ := style.word(string(m.Phase))
	counts := fmt.Sprintf("successful %d, failed %d, error %d", m.Successful, m.Failed, m.Error)
	if m.Inconclusive > 0 {
		counts += fmt.Sprintf(", inconclusive %d", m.Inconclusive)
	}
	var values []string
	for i := max(0, len(m.Measurements)-3); i < len(m.Measurements); i++ {
		if v := m.Measurements[i].Value; v != "" {
			values = append(values, v)
		}
	}
	s := fmt.Sprintf("%s: %s, %s", m.Name, phase, counts)
	if len(values) > 0 {
		s += ", last " + strings.Join(values, " ")
	}
	if m.DryRun {
		s += " (dry run)"
	}
	return s
}

// row writes one object of the tree in columns.
func row(w io.Writer, style Style, indent, branch, name, kind string, phase cell, age, info string) {
	prefix := indent + branch
	nameWidth := nameCol - utf8.RuneCountInString(prefix)
	word, width := phase.text, phase.width
	line := pad(prefix+fit(name, nameWidth), utf8.RuneCountInString(prefix)+utf8.RuneCountInString(fit(name, nameWidth)), nameCol) + " " +
		pad(kind, len(kind), kindCol) + " " + pad(word, width, statusCol) + " " + pad(age, len(age), ageCol) + " " + cut(info, infoCol)
	fmt.Fprintln(w, strings.TrimRight(line, " "))
}

func branch(indent string, last bool) string {
	if last {
		return indent + "└──"
	}
	return indent + "├──"
}

func childIndent(indent string, last bool) string {
	if last {
		return indent + "   "
	}
	return indent + "│  "
}

func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	return duration.ShortHumanDuration(now.Sub(t.Time))
}

// cutStyled cuts a line that may hold colour codes to n visible columns.
func cutStyled(s string, n int) string {
	if utf8.RuneCountInString(stripANSI(s)) <= n {
		return s
	}
	if !strings.Contains(s, "\x1b[") {
		return cut(s, n)
	}
	var b strings.Builder
	visible := 0
	for i := 0; i < len(s) && visible < n-1; {
		if strings.HasPrefix(s[i:], "\x1b[") {
			if j := strings.IndexByte(s[i:], 'm'); j >= 0 {
				b.WriteString(s[i : i+j+1])
				i += j + 1
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		visible++
		i += size
	}
	return b.String() + "…" + ansiReset
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "\x1b[") {
			if j := strings.IndexByte(s[i:], 'm'); j >= 0 {
				i += j + 1
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// wrap breaks text into lines of at most n columns at spaces.
func wrap(text string, n int) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(text) {
		switch {
		case cur == "":
			cur = word
		case utf8.RuneCountInString(cur)+1+utf8.RuneCountInString(word) <= n:
			cur += " " + word
		default:
			lines = append(lines, cur)
			cur = word
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	for i := range lines {
		lines[i] = cut(lines[i], n)
	}
	return lines
}
