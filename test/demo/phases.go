package demo

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	rov1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	sluicev1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/test/cluster"
)

// The namespaces and names of the sample repository.
const (
	GitOpsNamespace = "gitops"
	RootName        = "root"
	Rollout         = "payments"
)

// Envs are the environments, in promotion order.
var Envs = []string{"staging", "prod"}

// Namespace is where an environment runs.
func Namespace(env string) string { return "payments-" + env }

// GitSyncName is the GitSync of an environment.
func GitSyncName(env string) string { return "payments-" + env }

// FirstSync is what phase 1 saw, per environment.
type FirstSync struct {
	// MigrationFirst says the PreSync migration Job completed before the Rollout was created
	// (by the resourceVersions of the two writes, see orderWatch).
	MigrationFirst map[string]bool
}

// Bootstrap applies the root GitSync (phase 1) and waits until it, the GitSync of every
// environment and their Rollouts are Healthy.
func (d *Demo) Bootstrap(ctx context.Context, timeout time.Duration) (FirstSync, error) {
	start := time.Now()
	res := FirstSync{MigrationFirst: map[string]bool{}}
	objs, err := cluster.ReadObjects(filepath.Join(d.repo.WorkTree(), "bootstrap", "root.yaml"))
	if err != nil {
		return res, fmt.Errorf("read the bootstrap GitSync: %w", err)
	}
	for _, o := range objs {
		if err := d.opts.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("sluice-demo"), client.ForceOwnership); err != nil {
			return res, fmt.Errorf("apply %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	d.say("   applied bootstrap/root.yaml: GitSync %s/%s syncs clusters/local from %s", GitOpsNamespace, RootName, d.RepoURL())
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, name := range append([]string{RootName}, GitSyncName(Envs[0]), GitSyncName(Envs[1])) {
		if _, err := d.waitGitSync(ctx, name, "Synced and Healthy", readyAt("")); err != nil {
			return res, err
		}
	}
	for _, env := range Envs {
		ro, err := d.waitRollout(ctx, env, "Healthy", func(ro *rov1.Rollout) bool {
			return ro.Status.Phase == rov1.RolloutPhaseHealthy
		})
		if err != nil {
			return res, err
		}
		var done, created int64
		err = poll(ctx, "the migration Job and the Rollout of "+Namespace(env)+" in the watch", func() (bool, error) {
			var first bool
			done, created, first = d.order.migrationFirst(Namespace(env))
			res.MigrationFirst[env] = first
			return done > 0 && created > 0, nil
		})
		if err != nil {
			return res, err
		}
		order := "completed before the Rollout was created"
		if !res.MigrationFirst[env] {
			order = "did NOT complete before the Rollout was created"
		}
		d.say("   %s: the PreSync migration Job %s (resourceVersion %d < %d); %s", env, order, done, created, rolloutLine(ro))
	}
	d.phase(1, "root GitSync applied; it created the staging and prod GitSyncs; both synced and Healthy", start)
	return res, nil
}

// Walk is what a rollout showed while it changed: each distinct state in order.
type Walk struct {
	Revision string
	// States are the distinct "step N/M weight W route S/C phase" lines, in order.
	States []string
	// Routes are the distinct route weights (stable/canary) in order.
	Routes []string
	// Analysis is the last step analysis the rollout ran, with its metric values.
	Analysis string
	// SyncStatuses are the distinct sync statuses of the environment's GitSync meanwhile.
	SyncStatuses []string
	Final        *rov1.Rollout
}

// Release commits a new image tag to an environment (phase 2, and phase 3 for prod) and follows
// its canary until it is Healthy on that tag.
func (d *Demo) Release(ctx context.Context, n int, env, tag, msg string, timeout time.Duration) (Walk, error) {
	start := time.Now()
	rev, err := d.SetTag(env, tag, msg)
	if err != nil {
		return Walk{Revision: rev}, err
	}
	d.say("   commit %s %q; the webhook announced it", short(rev), msg)
	w, err := d.follow(ctx, env, rev, timeout, func(ro *rov1.Rollout) bool {
		return ro.Status.Phase == rov1.RolloutPhaseHealthy && imageTag(ro) == tag && ro.Status.StableRS == ro.Status.CurrentPodHash
	})
	if err != nil {
		return w, err
	}
	d.phase(n, fmt.Sprintf("%s: %s walked its canary and was promoted", env, tag), start)
	return w, nil
}

// Promote copies the image tag of staging's overlay to prod's (phase 3: promotion is a Git
// operation) and follows prod's canary.
func (d *Demo) Promote(ctx context.Context, timeout time.Duration) (Walk, error) {
	tag, err := d.Tag(Envs[0])
	if err != nil {
		return Walk{}, err
	}
	return d.Release(ctx, 3, Envs[1], tag, "promote payments "+tag+" to prod", timeout)
}

// BadRelease commits a bad version to staging (phase 4) and follows it until the analysis has
// failed and the rollout aborted: traffic back on stable, the Rollout Degraded.
func (d *Demo) BadRelease(ctx context.Context, tag string, timeout time.Duration) (Walk, error) {
	start := time.Now()
	env := Envs[0]
	msg := "payments " + tag + " to staging"
	rev, err := d.SetTag(env, tag, msg)
	if err != nil {
		return Walk{Revision: rev}, err
	}
	d.say("   commit %s %q; the webhook announced it", short(rev), msg)
	w, err := d.follow(ctx, env, rev, timeout, func(ro *rov1.Rollout) bool {
		return ro.Status.Phase == rov1.RolloutPhaseDegraded && ro.Status.Abort && imageTag(ro) == tag
	})
	if err != nil {
		return w, err
	}
	d.say("   %s", rolloutLine(w.Final))
	d.phase(4, "staging: the analysis failed, the rollout aborted and traffic went back to stable on its own; the GitSync stayed Synced", start)
	return w, nil
}

// Rollback reverts commit sha (phase 5) and follows staging until it is Healthy again.
func (d *Demo) Rollback(ctx context.Context, sha string, timeout time.Duration) (Walk, error) {
	start := time.Now()
	env := Envs[0]
	rev, err := d.Revert(sha)
	if err != nil {
		return Walk{Revision: rev}, err
	}
	tag, err := d.Tag(env)
	if err != nil {
		return Walk{Revision: rev}, err
	}
	d.say("   git revert %s → %s; the webhook announced it", short(sha), short(rev))
	w, err := d.follow(ctx, env, rev, timeout, func(ro *rov1.Rollout) bool {
		return ro.Status.Phase == rov1.RolloutPhaseHealthy && imageTag(ro) == tag && !ro.Status.Abort
	})
	if err != nil {
		return w, err
	}
	d.phase(5, fmt.Sprintf("staging: the revert converged, Healthy on %s", tag), start)
	return w, nil
}

// SelfHeal scales staging's Rollout by hand (phase 6) and returns how long self-heal took to put
// Git's replicas back.
func (d *Demo) SelfHeal(ctx context.Context, replicas int32, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	env := Envs[0]
	ro := &rov1.Rollout{}
	key := types.NamespacedName{Namespace: Namespace(env), Name: Rollout}
	if err := d.opts.Client.Get(ctx, key, ro); err != nil {
		return 0, err
	}
	want := *ro.Spec.Replicas
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas))
	edited := time.Now()
	if err := d.opts.Client.SubResource("scale").Patch(ctx, ro, client.RawPatch(types.MergePatchType, patch), client.FieldOwner("kubectl")); err != nil {
		return 0, fmt.Errorf("scale the Rollout by hand: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var took time.Duration
	err := poll(ctx, "self-heal to put back replicas "+fmt.Sprint(want), func() (bool, error) {
		if err := d.opts.Client.Get(ctx, key, ro); err != nil {
			return false, err
		}
		if *ro.Spec.Replicas == want {
			took = time.Since(edited)
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return 0, err
	}
	d.say("   kubectl scale rollout/%s --replicas=%d in %s: reverted to %d by self-heal in %d ms", Rollout, replicas, Namespace(env), want, took.Milliseconds())
	d.phase(6, "a hand edit of a managed object was reverted by self-heal", start)
	return took, nil
}

// follow watches an environment's Rollout, route, analysis and GitSync every 100 ms until done
// holds for the Rollout once the GitSync applied revision and the rollout controller observed the
// Rollout's spec, narrating each new state.
func (d *Demo) follow(ctx context.Context, env, revision string, timeout time.Duration, done func(*rov1.Rollout) bool) (Walk, error) {
	w := Walk{Revision: revision}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := d.opts.Client
	ns := Namespace(env)
	err := poll(ctx, fmt.Sprintf("the %s rollout of %s", env, short(revision)), func() (bool, error) {
		gs := &sluicev1.GitSync{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: GitOpsNamespace, Name: GitSyncName(env)}, gs); err != nil {
			return false, err
		}
		if gs.Status.Sync != nil && gs.Status.Sync.Revision == revision {
			w.SyncStatuses = appendNew(w.SyncStatuses, string(gs.Status.Sync.Status))
		}
		ro := &rov1.Rollout{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: Rollout}, ro); err != nil {
			return false, err
		}
		route := &gatewayv1.HTTPRoute{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: Rollout}, route); err != nil {
			return false, err
		}
		weights := routeWeights(route)
		w.Routes = appendNew(w.Routes, weights)
		if ro.Status.ObservedGeneration != strconv.FormatInt(ro.Generation, 10) {
			// The status still describes the spec before the commit: nothing to tell or decide.
			return false, nil
		}
		line := rolloutLine(ro) + " route " + weights
		if len(w.States) == 0 || w.States[len(w.States)-1] != line {
			w.States = append(w.States, line)
			d.say("   %s: %s", env, line)
		}
		if a := d.analysisLine(ctx, ro); a != "" && a != w.Analysis {
			w.Analysis = a
			d.say("   %s: %s", env, a)
		}
		w.Final = ro
		// The status is written before the routes: a Rollout recorded Healthy may still have its
		// last weights to write. The walk ends once the route holds what the status says.
		settled := true
		if wt := ro.Status.Canary.Weights; wt != nil {
			settled = weights == fmt.Sprintf("%d/%d", wt.Stable.Weight, wt.Canary.Weight)
		}
		return gs.Status.LastAppliedRevision == revision && done(ro) && settled, nil
	})
	return w, err
}

// analysisLine describes the Rollout's current step analysis: its phase and each metric's values.
func (d *Demo) analysisLine(ctx context.Context, ro *rov1.Rollout) string {
	st := ro.Status.Canary.CurrentStepAnalysisRunStatus
	if st == nil || st.Name == "" {
		return ""
	}
	run := &rov1.AnalysisRun{}
	if err := d.opts.Client.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: st.Name}, run); err != nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "analysis %s %s", run.Name, run.Status.Phase)
	for _, m := range run.Status.MetricResults {
		values := make([]string, 0, len(m.Measurements))
		for _, ms := range m.Measurements {
			values = append(values, strings.Trim(ms.Value, "[]"))
		}
		fmt.Fprintf(&b, "; %s [%s] ok %d failed %d", m.Name, strings.Join(values, " "), m.Successful, m.Failed)
	}
	return b.String()
}

// rolloutLine is one line of a Rollout's state, as `kubectl sluice get rollout` heads it.
func rolloutLine(ro *rov1.Rollout) string {
	steps := 0
	if ro.Spec.Strategy.Canary != nil {
		steps = len(ro.Spec.Strategy.Canary.Steps)
	}
	step := int32(steps)
	if ro.Status.CurrentStepIndex != nil {
		step = *ro.Status.CurrentStepIndex
	}
	weight := int32(100)
	if wt := ro.Status.Canary.Weights; wt != nil {
		weight = wt.Canary.Weight
	}
	line := fmt.Sprintf("%s step %d/%d canary weight %d, image %s", ro.Status.Phase, step, steps, weight, imageTag(ro))
	if ro.Status.Message != "" {
		line += " (" + ro.Status.Message + ")"
	}
	return line
}

func imageTag(ro *rov1.Rollout) string {
	if len(ro.Spec.Template.Spec.Containers) == 0 {
		return ""
	}
	img := ro.Spec.Template.Spec.Containers[0].Image
	return img[strings.LastIndex(img, ":")+1:]
}

// routeWeights is "stable/canary" of the route's first rule.
func routeWeights(r *gatewayv1.HTTPRoute) string {
	if len(r.Spec.Rules) == 0 || len(r.Spec.Rules[0].BackendRefs) < 2 {
		return "?"
	}
	w := func(i int) int32 {
		if p := r.Spec.Rules[0].BackendRefs[i].Weight; p != nil {
			return *p
		}
		return 1
	}
	return fmt.Sprintf("%d/%d", w(0), w(1))
}

// readyAt is a GitSync condition: Ready, at revision when it is not empty.
func readyAt(revision string) func(*sluicev1.GitSync) bool {
	return func(gs *sluicev1.GitSync) bool {
		return meta.IsStatusConditionTrue(gs.Status.Conditions, sluicev1.ConditionReady) && gs.Status.Sync != nil &&
			(revision == "" || gs.Status.LastAppliedRevision == revision)
	}
}

func (d *Demo) waitGitSync(ctx context.Context, name, what string, cond func(*sluicev1.GitSync) bool) (*sluicev1.GitSync, error) {
	gs := &sluicev1.GitSync{}
	err := poll(ctx, "GitSync "+GitOpsNamespace+"/"+name+" "+what, func() (bool, error) {
		err := d.opts.Client.Get(ctx, types.NamespacedName{Namespace: GitOpsNamespace, Name: name}, gs)
		return err == nil && cond(gs), client.IgnoreNotFound(err)
	})
	if err != nil && gs.Name != "" {
		err = fmt.Errorf("%w (ready: %v)", err, meta.FindStatusCondition(gs.Status.Conditions, sluicev1.ConditionReady))
	}
	return gs, err
}

func (d *Demo) waitRollout(ctx context.Context, env, what string, cond func(*rov1.Rollout) bool) (*rov1.Rollout, error) {
	ro := &rov1.Rollout{}
	err := poll(ctx, "Rollout "+Namespace(env)+"/"+Rollout+" "+what, func() (bool, error) {
		err := d.opts.Client.Get(ctx, types.NamespacedName{Namespace: Namespace(env), Name: Rollout}, ro)
		return err == nil && cond(ro), client.IgnoreNotFound(err)
	})
	return ro, err
}

// announce tells the controller's webhook receiver that main moved (the generic endpoint).
func (d *Demo) announce() error {
	if d.opts.WebhookURL == "" {
		return nil
	}
	body := fmt.Sprintf(`{"repoURL": %q, "branch": "main"}`, d.RepoURL())
	req, err := http.NewRequest(http.MethodPost, d.opts.WebhookURL, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.opts.WebhookToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("announce the push to %s: %w", d.opts.WebhookURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("announce the push: the receiver answered %s", resp.Status)
	}
	return nil
}

// poll runs cond every 100 ms until it holds or ctx ends; the error then names what was waited
// for and cond's last error.
func poll(ctx context.Context, what string, cond func() (bool, error)) error {
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func appendNew(list []string, v string) []string {
	if len(list) > 0 && list[len(list)-1] == v {
		return list
	}
	return append(list, v)
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
