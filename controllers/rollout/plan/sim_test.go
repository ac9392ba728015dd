package plan

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// world simulates what the planner's intents do in a cluster: ReplicaSets whose pods become
// available one planning round after they are asked for, Services, AnalysisRuns whose outcome the
// scenario decides, and a clock.
type world struct {
	t        *testing.T
	ro       *v1alpha1.Rollout
	rss      []*appsv1.ReplicaSet
	services map[string]*corev1.Service
	runs     map[string]*RunInfo // by run name
	start    time.Time
	now      time.Time
	pauses   map[v1alpha1.PauseReason]time.Time
	log      strings.Builder
	last     string
	// runOutcome decides the phase of a new AnalysisRun: nil leaves runs Running.
	runOutcome func(req RunRequest) v1alpha1.AnalysisPhase
	// slow makes pods of the named hashes never become available.
	slow map[string]bool
	// lagging makes ReplicaSets of the named hashes keep their status while they scale down, as
	// when the ReplicaSet controller has not yet removed their pods.
	lagging map[string]bool
	// oldPods are the pods created before spec.restartAt, oldest first.
	oldPods []string
	// routesRejected makes the routing system never accept weights.
	routesRejected bool
	// routed is the last routing intent the planner asked for; accepted is what the routes
	// hold (the last intent asked while the routing system accepted weights).
	routed   *RoutingIntent
	accepted *RoutingIntent
	// unchecked names invariants a scenario breaks on purpose (a ReplicaSet whose pods never
	// become available has no capacity to check), by name: "services", "routes", "capacity".
	unchecked map[string]bool
	// hash is the pod-template hash function the reconciler uses; nil is PodTemplateHash.
	hash func(*corev1.PodTemplateSpec, *int32) string
	// apiDefaults makes the simulated API server default the templates of the ReplicaSets it
	// creates (and of the reconciler's dry-run), as a real one does.
	apiDefaults bool
	// refused makes the simulated API server refuse to create ReplicaSets of the named hashes,
	// with the message; actionError is then what the reconciler remembers of the failure.
	refused     map[string]string
	actionError string
	// faults, when set, makes the world misbehave at random, as a cluster does: a ReplicaSet's
	// status that lags a round, a round in which the routes do not take the weights asked, a
	// status write that is lost (only an abort's traffic moves), and an execution that fails
	// part-way (the phases after the failed one do not run). faulted says this round had one.
	faults  *rand.Rand
	faulted bool
	// runsRefused makes the simulated API server refuse to create AnalysisRuns.
	runsRefused bool
}

func newWorld(t *testing.T, ro *v1alpha1.Rollout, services ...string) *world {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	w := &world{
		t: t, ro: ro, services: map[string]*corev1.Service{}, runs: map[string]*RunInfo{},
		start: start, now: start, slow: map[string]bool{}, lagging: map[string]bool{},
	}
	ro.Generation = 1
	ro.UID = types.UID("uid-" + ro.Name)
	for _, name := range services {
		w.services[name] = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "demo"}}}
	}
	return w
}

// observe builds what the reconciler would observe.
func (w *world) observe() Observed {
	tmpl := w.ro.Spec.Template
	hashFn := w.hash
	if hashFn == nil {
		hashFn = PodTemplateHash
	}
	hash := hashFn(&tmpl, w.ro.Status.CollisionCount)
	obs := Observed{Template: &tmpl, PodHash: hash, ReplicaSets: w.rss, Services: w.services,
		Runs: map[string]*RunInfo{}, PauseStarted: w.pauses, ActionError: w.actionError}
	// The routes hold what the last plan asked for; the routing system accepts it at once unless
	// the scenario says otherwise.
	if wt := w.ro.Status.Canary.Weights; wt != nil && w.accepted != nil && !w.routesRejected {
		obs.WeightVerified = w.accepted.Weights.Canary.Weight == wt.Canary.Weight
	}
	for _, name := range w.oldPods {
		obs.OldPods = append(obs.OldPods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}})
	}
	// As the reconciler does: default the template only when the ReplicaSets call for it.
	if NeedsDefaulting(w.ro, obs) {
		obs.DefaultedTemplate = w.serverDefaults(&tmpl)
	}
	obs.NewRS = FindReplicaSet(w.ro, obs)
	for name, run := range w.runs {
		obs.Runs[name] = run
	}
	return obs
}

// step plans once and applies the plan. It reports whether anything changed.
func (w *world) step() (Plan, bool) {
	w.faulted = false
	// Pods asked for in the previous round are now running and available.
	for _, rs := range w.rss {
		n := specReplicas(rs)
		if w.lagging[podHash(rs)] && rs.Status.Replicas > n {
			continue
		}
		if w.faults != nil && w.faults.Float64() < 0.25 {
			w.faulted = true // its status lags a round
			continue
		}
		rs.Status.Replicas = n
		rs.Status.ReadyReplicas = n
		rs.Status.AvailableReplicas = n
		if w.slow[podHash(rs)] {
			rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = 0, 0
		}
		rs.Status.ObservedGeneration = rs.Generation
	}
	obs := w.observe()
	before := w.snapshot()
	p := Next(w.ro.DeepCopy(), obs, w.now)
	if after := w.snapshot(); !equality.Semantic.DeepEqual(before, after) {
		w.t.Fatalf("the planner changed its input (the observed ReplicaSets or Services)")
	}
	routesBefore := w.accepted
	budgetBefore := w.withinBudget(nil)
	rejected := w.routesRejected
	if w.faults != nil && w.faults.Float64() < 0.2 {
		w.routesRejected, w.faulted = true, true // the routing system does not take it this round
	}
	if w.faults != nil && w.faults.Float64() < 0.1 {
		// The status write is lost (a conflict, the API server away): nothing is carried out,
		// except that an abort sends its traffic back to stable anyway.
		w.faulted = true
		if p.Status.Abort && p.Routing != nil {
			w.routed = p.Routing
			if !w.routesRejected {
				w.accepted = p.Routing
			}
		}
		w.routesRejected = rejected
		w.checkInvariants(Plan{}, routesBefore)
		return p, true
	}
	w.apply(p)
	w.routesRejected = rejected
	w.checkInvariants(p, routesBefore)
	if budgetBefore && !p.Status.Abort && w.ro.Status.Abort == p.Status.Abort {
		if msg := w.budgetProblem(); msg != "" {
			w.t.Fatalf("invariant: %s\n%s", msg, w.log.String())
		}
	}
	if w.actionError != "" {
		// As the reconciler does after a failed execution: the recorded status names the failure.
		ReportActionError(&p.Status, w.actionError)
	}
	changed := len(p.Create)+len(p.Scale)+len(p.Selectors)+len(p.Delete)+len(p.CreateRuns)+len(p.DeletePods) > 0
	if w.actionError != "" {
		changed = false // nothing was carried out; the reconciler retries after a backoff
	}
	if !equality.Semantic.DeepEqual(w.ro.Status, p.Status) || w.faulted {
		changed = true
	}
	if w.accepted != nil && (routesBefore == nil || !equality.Semantic.DeepEqual(routesBefore.Weights, w.accepted.Weights)) {
		changed = true // the routes' new status wakes the reconciler, as their watch does
	}
	w.ro.Status = p.Status
	w.record(p)
	return p, changed
}

// simPhase is one ordered part of carrying out a plan, as the reconciler's executor runs them.
type simPhase struct {
	name string
	run  func() bool // false: the phase failed, the later ones do not run
}

func (w *world) apply(p Plan) {
	w.actionError = ""
	create := simPhase{CreateReplicaSetsPhase, func() bool {
		for _, rs := range p.Create {
			if msg, ok := w.refused[podHash(rs)]; ok {
				w.actionError = CreateReplicaSetsPhase + ": " + CreateReplicaSetError(rs.Name, errors.New(msg)).Error()
				return false
			}
			rs = rs.DeepCopy()
			rs.Spec.Template = *w.serverDefaults(&rs.Spec.Template)
			rs.Generation = 1
			rs.CreationTimestamp = metav1.NewTime(w.now)
			w.rss = append(w.rss, rs)
		}
		return true
	}}
	selectors := simPhase{"switch Service selectors", func() bool {
		for _, sel := range p.Selectors {
			w.services[sel.Service].Spec.Selector[v1alpha1.PodTemplateHashLabelKey] = sel.Hash
			if w.services[sel.Service].Annotations == nil {
				w.services[sel.Service].Annotations = map[string]string{}
			}
			w.services[sel.Service].Annotations[v1alpha1.ManagedByRolloutsAnnotationKey] = w.ro.Name
		}
		return true
	}}
	routes := simPhase{"route traffic", func() bool {
		if p.Routing != nil {
			w.routed = p.Routing
			if !w.routesRejected {
				w.accepted = p.Routing
			}
		}
		return true
	}}
	scale := simPhase{"scale ReplicaSets", func() bool {
		for _, sc := range p.Scale {
			rs := w.rs(sc.Name)
			if sc.Replicas >= 0 && specReplicas(rs) != sc.Replicas {
				rs.Spec.Replicas = ptr.To(sc.Replicas)
				rs.Generation++
			}
			for k, v := range sc.Annotations {
				if rs.Annotations == nil {
					rs.Annotations = map[string]string{}
				}
				if v == nil {
					delete(rs.Annotations, k)
				} else {
					rs.Annotations[k] = *v
				}
			}
		}
		return true
	}}
	metadata := simPhase{"set pod metadata", func() bool {
		for _, md := range p.PodMetadata {
			rs := w.rs(md.ReplicaSet)
			for k, v := range md.Labels {
				if v == nil {
					delete(rs.Spec.Template.Labels, k)
				} else {
					rs.Spec.Template.Labels[k] = *v
				}
			}
			for k, v := range md.Annotations {
				if v == nil {
					delete(rs.Spec.Template.Annotations, k)
				} else {
					if rs.Spec.Template.Annotations == nil {
						rs.Spec.Template.Annotations = map[string]string{}
					}
					rs.Spec.Template.Annotations[k] = *v
				}
			}
			if md.Injected == nil {
				delete(rs.Annotations, EphemeralMetadataAnnotation)
			} else {
				if rs.Annotations == nil {
					rs.Annotations = map[string]string{}
				}
				rs.Annotations[EphemeralMetadataAnnotation] = *md.Injected
			}
		}
		return true
	}}
	runs := simPhase{"start and stop AnalysisRuns", func() bool {
		if w.runsRefused && len(p.CreateRuns) > 0 {
			w.actionError = "start and stop AnalysisRuns: create AnalysisRun " + p.CreateRuns[0].Name + ": forbidden"
			return false
		}
		for _, req := range p.CreateRuns {
			phase := v1alpha1.AnalysisPhaseRunning
			if w.runOutcome != nil {
				phase = w.runOutcome(req)
			}
			if w.runs[req.Name] == nil {
				w.runs[req.Name] = &RunInfo{Name: req.Name, Phase: phase, Message: "simulated"}
			}
		}
		for _, name := range p.TerminateRuns {
			w.runs[name].Phase = v1alpha1.AnalysisPhaseSuccessful
			w.runs[name].Message = "run terminated"
		}
		return true
	}}
	deletes := simPhase{"delete old objects", func() bool {
		for _, name := range p.Delete {
			for i, rs := range w.rss {
				if rs.Name == name {
					w.rss = append(w.rss[:i], w.rss[i+1:]...)
					break
				}
			}
		}
		for _, name := range p.DeletePods {
			for i, pod := range w.oldPods {
				if pod == name {
					w.oldPods = append(w.oldPods[:i], w.oldPods[i+1:]...)
					break
				}
			}
		}
		return true
	}}
	phases := []simPhase{create, selectors, routes, scale, metadata, runs, deletes}
	if p.Status.Abort {
		phases = []simPhase{routes, create, selectors, scale, metadata, runs, deletes}
	}
	failAt := -1
	if w.faults != nil && w.faults.Float64() < 0.15 {
		failAt = w.faults.IntN(len(phases))
	}
	for i, ph := range phases {
		if i == failAt {
			w.actionError = ph.name + ": injected failure"
			w.faulted = true
			break
		}
		if !ph.run() {
			break
		}
	}
	// What the reconciler remembers once the status is written, whatever the execution did.
	if len(p.PauseStarted) > 0 && w.pauses == nil {
		w.pauses = map[v1alpha1.PauseReason]time.Time{}
	}
	for k, v := range p.PauseStarted {
		w.pauses[k] = v
	}
}

// snapshot is a deep copy of what the planner observes of the world's objects.
func (w *world) snapshot() []any {
	var out []any
	for _, rs := range w.rss {
		out = append(out, rs.DeepCopy())
	}
	names := make([]string, 0, len(w.services))
	for name := range w.services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out = append(out, w.services[name].DeepCopy())
	}
	return out
}

// withinBudget reports whether a canary without traffic routing is within its rolling budget:
// pods (the ReplicaSets' sizes) at most replicas + maxSurge, and available pods (those that stay:
// available, within the size) at least replicas - maxUnavailable. Other strategies have no such
// budget (true).
func (w *world) withinBudget(_ *Plan) bool { return w.budgetProblem() == "" }

func (w *world) budgetProblem() string {
	c := w.ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting != nil {
		return ""
	}
	b := newBudget(w.ro.Spec.GetReplicas(), c.GetMaxSurge(), c.GetMaxUnavailable())
	var pods, available int32
	for _, rs := range w.rss {
		pods += specReplicas(rs)
		available += min(rs.Status.AvailableReplicas, specReplicas(rs))
	}
	switch {
	case pods > b.maxTotal:
		return fmt.Sprintf("%d pods asked for, over replicas + maxSurge = %d", pods, b.maxTotal)
	case available < b.minAvailable && w.anyAvailable():
		return fmt.Sprintf("%d pods stay available, under replicas - maxUnavailable = %d", available, b.minAvailable)
	}
	return ""
}

func (w *world) anyAvailable() bool {
	for _, rs := range w.rss {
		if rs.Status.AvailableReplicas > 0 {
			return true
		}
	}
	return false
}

// checkInvariants checks, after a plan was carried out, what the planner must never do, whatever
// the scenario, judged on the pods it saw (available) and the sizes it left (spec): move a Service
// or route traffic onto a ReplicaSet without an available pod, or scale to zero a ReplicaSet that a
// Service or a route still sends to; under dynamicStableScale, leave the stable ReplicaSet with
// fewer pods than its share of the traffic the routes hold. (Pods that turn unready by
// themselves are the world's doing, not the planner's.) Nothing is checked while no ReplicaSet
// has an available pod (a first deploy): there is nowhere better to point.
func (w *world) checkInvariants(p Plan, before *RoutingIntent) {
	w.t.Helper()
	byHash := map[string]*appsv1.ReplicaSet{}
	anyAvailable := false
	for _, rs := range w.rss {
		byHash[podHash(rs)] = rs
		if rs.Status.AvailableReplicas > 0 {
			anyAvailable = true
		}
	}
	if !anyAvailable {
		return
	}
	avail := func(hash string) int32 {
		if rs := byHash[hash]; rs != nil {
			return rs.Status.AvailableReplicas
		}
		return 0
	}
	scaledAway := func(hash string) bool {
		rs := byHash[hash]
		if rs == nil || specReplicas(rs) != 0 || rs.Status.AvailableReplicas == 0 {
			return false
		}
		for h, other := range byHash {
			if h != hash && other.Status.AvailableReplicas > 0 {
				return true // there was somewhere better to point first
			}
		}
		return false // nothing else serves: the budget (maxUnavailable) allows the gap
	}
	fail := func(format string, args ...any) {
		w.t.Fatalf("invariant: "+format+"\n%s", append(args, w.log.String())...)
	}
	if !w.unchecked["services"] {
		for _, sel := range p.Selectors {
			if avail(sel.Hash) == 0 && w.actionError == "" {
				fail("Service %s moved to %s, which has no available pod", sel.Service, sel.Hash)
			}
		}
		for name, svc := range w.services {
			if h := svc.Spec.Selector[v1alpha1.PodTemplateHashLabelKey]; scaledAway(h) {
				fail("%s is scaled to zero while Service %s selects it", h, name)
			}
		}
	}
	r := w.accepted
	if r == nil || w.unchecked["routes"] {
		return
	}
	prev := map[string]int32{}
	if before != nil {
		prev[before.Weights.Canary.PodTemplateHash] += before.Weights.Canary.Weight
		prev[before.Weights.Stable.PodTemplateHash] += before.Weights.Stable.Weight
	}
	now := map[string]int32{}
	now[r.Weights.Canary.PodTemplateHash] += r.Weights.Canary.Weight
	now[r.Weights.Stable.PodTemplateHash] += r.Weights.Stable.Weight
	for h, weight := range now {
		switch {
		case h == "" || weight == 0:
		case weight > prev[h] && avail(h) == 0:
			fail("the routes moved weight %d to %s, which has no available pod", weight, h)
		case scaledAway(h):
			fail("%s is scaled to zero while the routes send it weight %d", h, weight)
		}
	}
	if sub := r.Subsets; sub != nil && r.Weights.Canary.Weight > 0 && r.Weights.Canary.PodTemplateHash != r.Weights.Stable.PodTemplateHash &&
		sub[0] != r.Weights.Canary.PodTemplateHash {
		fail("the routes send weight %d to the canary subset, which selects %s, not the canary %s", r.Weights.Canary.Weight, sub[0], r.Weights.Canary.PodTemplateHash)
	}
	c := w.ro.Spec.Strategy.Canary
	if c == nil || !c.DynamicStableScale || w.unchecked["capacity"] {
		return
	}
	max := c.TrafficRouting.GetMaxTrafficWeight()
	replicas := w.ro.Spec.GetReplicas()
	need := int32(int64(replicas) * int64(r.Weights.Stable.Weight) / int64(max)) // rounded down
	if rs := byHash[r.Weights.Stable.PodTemplateHash]; rs != nil && min(rs.Status.AvailableReplicas, specReplicas(rs)) < need {
		fail("the stable ReplicaSet %s keeps %d available pods for %d/%d of the traffic of %d replicas",
			podHash(rs), min(rs.Status.AvailableReplicas, specReplicas(rs)), r.Weights.Stable.Weight, max, replicas)
	}
}

func (w *world) rs(name string) *appsv1.ReplicaSet {
	for _, rs := range w.rss {
		if rs.Name == name {
			return rs
		}
	}
	w.t.Fatalf("no ReplicaSet %s", name)
	return nil
}

// settle plans until nothing changes, following requeues (the clock jumps to them) up to limit
// of simulated time. Waiting for a person (an indefinite pause) ends it.
func (w *world) settle(limit time.Duration) {
	end := w.now.Add(limit)
	for i := 0; i < 200; i++ {
		p, changed := w.step()
		if changed {
			w.now = w.now.Add(100 * time.Millisecond)
			continue
		}
		next := p.RequeueAfter
		if w.actionError != "" && (next == 0 || next > 10*time.Second) {
			next = 10 * time.Second // the reconciler's longest retry backoff
		}
		if next == 0 || w.now.Add(next).After(end) {
			return
		}
		w.now = w.now.Add(next)
	}
	w.t.Fatalf("no steady state after 200 rounds:\n%s", w.log.String())
}

// record writes one golden line when the visible state changed.
func (w *world) record(p Plan) {
	st := w.ro.Status
	var b strings.Builder
	idx := "-"
	if st.CurrentStepIndex != nil {
		idx = fmt.Sprint(*st.CurrentStepIndex)
	}
	fmt.Fprintf(&b, "phase=%s", st.Phase)
	if st.Message != "" {
		fmt.Fprintf(&b, "(%s)", st.Message)
	}
	fmt.Fprintf(&b, " step=%s stable=%s", idx, st.StableRS)
	if st.Abort {
		b.WriteString(" abort")
	}
	for _, pc := range st.PauseConditions {
		fmt.Fprintf(&b, " pause=%s", pc.Reason)
	}
	b.WriteString(" rs:")
	list := append([]*appsv1.ReplicaSet{}, w.rss...)
	byRevision(list)
	for _, rs := range list {
		fmt.Fprintf(&b, " %s=%d/%d", podHash(rs), specReplicas(rs), rs.Status.AvailableReplicas)
		if _, ok := rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey]; ok {
			b.WriteString("(delay)")
		}
		if role := rs.Spec.Template.Labels["role"]; role != "" {
			b.WriteString("(role=" + role + ")")
		}
	}
	var svcs []string
	for name, svc := range w.services {
		svcs = append(svcs, name+"="+svc.Spec.Selector[v1alpha1.PodTemplateHashLabelKey])
	}
	sort.Strings(svcs)
	if len(svcs) > 0 {
		b.WriteString(" svc: " + strings.Join(svcs, " "))
	}
	if r := st.Canary.CurrentStepAnalysisRunStatus; r != nil {
		fmt.Fprintf(&b, " stepRun=%s:%s", strings.TrimPrefix(r.Name, w.ro.Name+"-"), r.Status)
	}
	if r := st.Canary.CurrentBackgroundAnalysisRunStatus; r != nil {
		fmt.Fprintf(&b, " bgRun=%s:%s", strings.TrimPrefix(r.Name, w.ro.Name+"-"), r.Status)
	}
	if wt := st.Canary.Weights; wt != nil {
		fmt.Fprintf(&b, " weight=%d/%d", wt.Canary.Weight, wt.Stable.Weight)
		if wt.Verified != nil && *wt.Verified {
			b.WriteString("(verified)")
		}
	}
	if w.routed != nil && w.routed.Subsets != nil {
		fmt.Fprintf(&b, " subsets=%s/%s", w.routed.Subsets[0], w.routed.Subsets[1])
	}
	if w.routed != nil {
		for name := range w.routed.HeaderRoutes {
			fmt.Fprintf(&b, " header=%s", name)
		}
		for name := range w.routed.MirrorRoutes {
			fmt.Fprintf(&b, " mirror=%s", name)
		}
	}
	if len(w.oldPods) > 0 {
		fmt.Fprintf(&b, " oldPods=%d", len(w.oldPods))
	}
	line := b.String()
	if line != w.last {
		fmt.Fprintf(&w.log, "%6.1fs %s\n", w.now.Sub(w.start).Seconds(), line)
		w.last = line
	}
	for _, name := range p.TerminateRuns {
		fmt.Fprintf(&w.log, "%6s   terminate run %s\n", "", name)
	}
	// The reconciler records the plan's events once the status holds them, then the executor's
	// for the writes it carried out (all of them, in this world).
	events := append([]Event{}, p.Events...)
	for _, sel := range p.Selectors {
		if w.actionError != "" {
			break // the phases after the failed one did not run
		}
		if e, ok := SelectorEvent(sel); ok {
			events = append(events, e)
		}
	}
	if e, ok := WeightEvent(p.Routing); ok && w.actionError == "" {
		events = append(events, e)
	}
	for _, pod := range p.DeletePods {
		if w.actionError != "" {
			break
		}
		events = append(events, RestartEvent(pod))
	}
	for _, e := range events {
		if e.Reason != "ScalingReplicaSet" {
			fmt.Fprintf(&w.log, "%6s   event %s: %s\n", "", e.Reason, e.Message)
		}
	}
}

// serverDefaults is a template as the simulated API server stores it: with apiDefaults, the
// defaults a real API server gives a PodTemplateSpec's containers and pod spec (a subset of them).
func (w *world) serverDefaults(tmpl *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	out := tmpl.DeepCopy()
	if !w.apiDefaults {
		return out
	}
	spec := &out.Spec
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if c.TerminationMessagePath == "" {
			c.TerminationMessagePath = corev1.TerminationMessagePathDefault
		}
		if c.TerminationMessagePolicy == "" {
			c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
		}
		if c.ImagePullPolicy == "" {
			c.ImagePullPolicy = corev1.PullIfNotPresent
		}
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptr.To[int64](corev1.DefaultTerminationGracePeriodSeconds)
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	return out
}

// undo copies the template of the ReplicaSet of hash into the Rollout, as
// `kubectl argo rollouts undo` does: the stored (defaulted) template without the hash label.
func (w *world) undo(hash string) {
	w.note("undo to %s", hash)
	for _, rs := range w.rss {
		if podHash(rs) == hash {
			tmpl := rs.Spec.Template.DeepCopy()
			delete(tmpl.Labels, v1alpha1.PodTemplateHashLabelKey)
			w.ro.Spec.Template = *tmpl
			w.ro.Generation++
			return
		}
	}
	w.t.Fatalf("no ReplicaSet of hash %s to undo to", hash)
}

// note writes a scenario step into the log.
func (w *world) note(format string, args ...any) {
	fmt.Fprintf(&w.log, "--- %s\n", fmt.Sprintf(format, args...))
}

// setImage changes the template, as a user's apply does.
func (w *world) setImage(image string) {
	w.note("set image %s", image)
	w.ro.Spec.Template.Spec.Containers[0].Image = image
	w.ro.Generation++
}

// promote clears the pause conditions, as `kubectl argo rollouts promote` does at a pause.
func (w *world) promote() {
	w.note("promote")
	w.ro.Status.PauseConditions = nil
	w.ro.Spec.Paused = false
}

func (w *world) golden(name string) {
	w.t.Helper()
	path := filepath.Join("testdata", name+".golden")
	got := w.log.String()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			w.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		w.t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if string(want) != got {
		w.t.Errorf("%s differs from the golden file; run `go test ./controllers/rollout/plan -update` and review the diff.\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

func canaryRollout(replicas int32, steps ...v1alpha1.CanaryStep) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default"},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "demo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "demo"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				CanaryService: "demo-canary", StableService: "demo-stable", Steps: steps,
			}},
		},
	}
}

func blueGreenRollout(replicas int32, b v1alpha1.BlueGreenStrategy) *v1alpha1.Rollout {
	ro := canaryRollout(replicas)
	b.ActiveService, b.PreviewService = "demo-active", "demo-preview"
	ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &b}
	return ro
}

func intstrFrom(s string) intstr.IntOrString { return intstr.Parse(s) }

func weight(w int32) v1alpha1.CanaryStep { return v1alpha1.CanaryStep{SetWeight: ptr.To(w)} }

func pause(d string) v1alpha1.CanaryStep {
	if d == "" {
		return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{}}
	}
	v := intstrFrom(d)
	return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{Duration: &v}}
}

func analysisStep(template string) v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: template}}}}
}
