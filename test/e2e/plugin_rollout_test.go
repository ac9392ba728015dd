package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/cmd/kubectl-sluice/cli"
)

// pluginResult is what one run of the plugin printed and returned.
type pluginResult struct {
	stdout, stderr string
	code           int
}

// runPlugin runs `kubectl sluice ARGS` in-process with the cluster's kubeconfig in namespace ns.
func runPlugin(t *testing.T, ns string, args ...string) pluginResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runPluginTo(context.Background(), &out, &errOut, ns, args...)
	res := pluginResult{stdout: out.String(), stderr: errOut.String(), code: code}
	t.Logf("kubectl sluice %s -> exit %d\n%s%s", strings.Join(args, " "), code, res.stdout, res.stderr)
	return res
}

func runPluginTo(ctx context.Context, out, errOut io.Writer, ns string, args ...string) int {
	full := append([]string{"--kubeconfig", env.cluster.Kubeconfig, "-n", ns}, args...)
	return cli.Run(ctx, full, genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut})
}

// mustPlugin runs the plugin and wants exit 0 and want in its output.
func mustPlugin(t *testing.T, ns, want string, args ...string) pluginResult {
	t.Helper()
	res := runPlugin(t, ns, args...)
	if res.code != 0 || !strings.Contains(res.stdout, want) {
		t.Fatalf("kubectl sluice %s: exit %d, want 0 and %q in the output:\n%s%s", strings.Join(args, " "), res.code, want, res.stdout, res.stderr)
	}
	return res
}

// waitPausedAtStep waits until the rollout is Paused at step index step of the update to hash != old.
func waitPausedAtStep(t *testing.T, ns, name string, step int32, stable string) *v1alpha1.Rollout {
	t.Helper()
	var ro *v1alpha1.Rollout
	eventually(t, time.Minute, fmt.Sprintf("rollout %s paused at step %d", name, step), func() (bool, error) {
		ro = getRollout(t, ns, name)
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation) &&
			ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex == step &&
			ro.Status.StableRS == stable && ro.Status.CurrentPodHash != stable, nil
	})
	return ro
}

// TestPluginRolloutLifecycle drives a canary with the plugin's own command code against the local
// cluster: set image, promote, abort, retry, promote --full and status, reading the result of
// each in the cluster and in the plugin's get, list and status output.
func TestPluginRolloutLifecycle(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	newService(t, ns, "web-stable", "web")
	newService(t, ns, "web-canary", "web")
	strategy := canarySteps(setWeight(25), pauseFor(""), setWeight(50), pauseFor(""))
	strategy.Canary.StableService, strategy.Canary.CanaryService = "web-stable", "web-canary"
	strategy.Canary.AbortScaleDownDelaySeconds = ptr.To(int32(0)) // keep no canary pods waiting after the abort
	if err := env.client.Create(ctx, newRolloutObject(ns, "web", "app:1", 4, strategy)); err != nil {
		t.Fatalf("create Rollout: %v", err)
	}
	stable := waitPhase(t, ns, "web", v1alpha1.RolloutPhaseHealthy, time.Minute).Status.StableRS
	mustPlugin(t, ns, "Healthy", "status", "web", "--timeout", "30s")

	// get --watch follows the update: without a terminal, a new block per change.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchOut, watchErr syncBuffer
	watchDone := make(chan int, 1)
	go func() {
		watchDone <- runPluginTo(watchCtx, &watchOut, &watchErr, ns, "get", "rollout", "web", "--watch")
	}()
	eventually(t, 30*time.Second, "get --watch to draw the rollout", func() (bool, error) {
		return strings.Contains(watchOut.String(), "Status:         Healthy"), nil
	})

	// set image starts the update, which stops at the first pause.
	mustPlugin(t, ns, "rollout 'web' image updated: app=app:2", "set", "image", "web", "app=app:2")
	ro := waitPausedAtStep(t, ns, "web", 1, stable)
	if img := ro.Spec.Template.Spec.Containers[0].Image; img != "app:2" {
		t.Fatalf("image after set image: %s", img)
	}
	get := mustPlugin(t, ns, "Paused", "get", "rollout", "web")
	for _, want := range []string{"Step:         1/4", "SetWeight:    25", "app:1 (stable)", "app:2 (canary)", "# revision:2", "# revision:1", "web-" + stable} {
		if !strings.Contains(get.stdout, want) {
			t.Errorf("get rollout lacks %q:\n%s", want, get.stdout)
		}
	}
	eventually(t, 30*time.Second, "get --watch to draw the pause", func() (bool, error) {
		return strings.Contains(watchOut.String(), "Status:         Paused"), nil
	})
	stopWatch()
	if code := <-watchDone; code != 0 {
		t.Fatalf("get --watch ended with exit %d: %s", code, watchErr.String())
	}
	blocks := strings.Count(watchOut.String(), "Name:           web\n")
	if blocks < 2 || !strings.Contains(watchOut.String(), "Step:         1/4") {
		t.Fatalf("get --watch drew %d blocks, want one per change up to the pause:\n%s", blocks, watchOut.String())
	}

	// Paused: status says so and exits 0 without --watch.
	if st := mustPlugin(t, ns, "Paused", "status", "web", "--timeout", "30s"); !strings.HasPrefix(pluginLastLine(st.stdout), "Paused") {
		t.Fatalf("status of a paused rollout: %q", st.stdout)
	}

	// promote moves past the pause to the next one.
	mustPlugin(t, ns, "rollout 'web' promoted", "promote", "web")
	waitPausedAtStep(t, ns, "web", 3, stable)
	// With --watch, status waits through the pause: here until its timeout, which exits 1.
	if st := runPlugin(t, ns, "status", "web", "--watch", "--timeout", "2s"); st.code != 1 ||
		!strings.HasPrefix(pluginLastLine(st.stdout), "Paused") || !strings.Contains(st.stderr, `rollout "web" is still Paused`) {
		t.Fatalf("status --watch of a paused rollout: exit %d\n%s%s", st.code, st.stdout, st.stderr)
	}

	// abort: Degraded, traffic and pods back on stable; status exits 1 with the message.
	mustPlugin(t, ns, "rollout 'web' aborted", "abort", "web")
	eventually(t, time.Minute, "the abort to scale the canary down", func() (bool, error) {
		ro := getRollout(t, ns, "web")
		rss := replicaSetsOf(t, ns, "web")
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && ro.Status.Abort &&
			specOf(rss[ro.Status.CurrentPodHash]) == 0 && specOf(rss[stable]) == 4, nil
	})
	st := runPlugin(t, ns, "status", "web", "--timeout", "30s")
	if st.code != 1 || !strings.Contains(st.stdout, "Degraded") || !strings.Contains(st.stderr, "Degraded") {
		t.Fatalf("status of an aborted rollout: exit %d\n%s%s", st.code, st.stdout, st.stderr)
	}
	// promote of a rollout that is not paused changes nothing.
	before := getRollout(t, ns, "web")
	mustPlugin(t, ns, "is not paused", "promote", "web")
	after := getRollout(t, ns, "web")
	if !after.Status.Abort || after.Spec.Paused || ptrOr(after.Status.CurrentStepIndex) != ptrOr(before.Status.CurrentStepIndex) {
		t.Fatalf("promote of a rollout that is not paused changed it: before %+v, after %+v", before.Status, after.Status)
	}

	// retry: the update starts over and stops at the first pause again.
	mustPlugin(t, ns, "rollout 'web' retried", "retry", "web")
	// Right after the retry the phase may still be the abort's Degraded: status waits it out.
	if st := mustPlugin(t, ns, "Paused", "status", "web", "--timeout", "1m"); !strings.HasPrefix(pluginLastLine(st.stdout), "Paused") {
		t.Fatalf("status after retry ends with %q", pluginLastLine(st.stdout))
	}
	waitPausedAtStep(t, ns, "web", 1, stable)

	// promote --full: straight to Healthy with the new version stable; status waits for it.
	mustPlugin(t, ns, "rollout 'web' fully promoted", "promote", "web", "--full")
	if st := mustPlugin(t, ns, "Healthy", "status", "web", "--timeout", "2m"); pluginLastLine(st.stdout) != "Healthy" {
		t.Fatalf("status after promote --full ends with %q", pluginLastLine(st.stdout))
	}
	final := getRollout(t, ns, "web")
	if final.Status.StableRS == stable || final.Status.StableRS != final.Status.CurrentPodHash {
		t.Fatalf("after promote --full the new version must be stable: %+v", final.Status)
	}

	// list and -o json read the same status.
	list := mustPlugin(t, ns, "web", "list", "rollouts")
	if fields := strings.Fields(pluginLastLine(list.stdout)); len(fields) != 9 || fields[0] != "web" || fields[2] != "Healthy" || fields[4] != "100" {
		t.Fatalf("list rollouts row: %q", pluginLastLine(list.stdout))
	}
	var decoded v1alpha1.Rollout
	if err := json.Unmarshal([]byte(mustPlugin(t, ns, "{", "get", "rollout", "web", "-o", "json").stdout), &decoded); err != nil {
		t.Fatalf("get rollout -o json: %v", err)
	}
	if decoded.Kind != "Rollout" || decoded.Status.StableRS != final.Status.StableRS {
		t.Fatalf("get rollout -o json: kind %q, stableRS %q", decoded.Kind, decoded.Status.StableRS)
	}
}

// TestPluginErrors: an unknown rollout names the closest one, and a missing permission names
// the verb and the resource; both are one line and exit 1.
func TestPluginErrors(t *testing.T) {
	ns := newNamespace(t)
	if err := env.client.Create(context.Background(), newRolloutObject(ns, "checkout", "app:1", 1, canarySteps(setWeight(50)))); err != nil {
		t.Fatalf("create Rollout: %v", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "rollout", "chekout"}, `error: rollout "chekout" not found in namespace "` + ns + `"; did you mean "checkout"?`},
		{[]string{"promote", "nothing-like-it"}, `error: rollout "nothing-like-it" not found in namespace "` + ns + `"`},
		{[]string{"--as", "nobody", "get", "rollout", "checkout"}, `error: no permission to get rollouts.argoproj.io in namespace "` + ns + `"`},
	} {
		res := runPlugin(t, ns, c.args...)
		if res.code != 1 || !strings.HasPrefix(res.stderr, c.want) || strings.Count(res.stderr, "\n") != 1 {
			t.Errorf("kubectl sluice %s: exit %d, stderr %q; want exit 1 and one line starting %q", strings.Join(c.args, " "), res.code, res.stderr, c.want)
		}
	}
}

func pluginLastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestPluginPauseRestartUndo: pause and resume, restart, and undo to the previous revision and to
// a named one, on a canary without steps, each checked in the cluster.
func TestPluginPauseRestartUndo(t *testing.T) {
	startManager(t, setupRollout)
	ns := newNamespace(t)
	if err := env.client.Create(context.Background(), newRolloutObject(ns, "api", "app:1", 2, canarySteps())); err != nil {
		t.Fatalf("create Rollout: %v", err)
	}
	waitPhase(t, ns, "api", v1alpha1.RolloutPhaseHealthy, time.Minute)
	mustPlugin(t, ns, "image updated", "set", "image", "api", "*=app:2")
	mustPlugin(t, ns, "Healthy", "status", "api", "--timeout", "1m")

	mustPlugin(t, ns, "rollout 'api' paused", "pause", "api")
	if ro := waitPhase(t, ns, "api", v1alpha1.RolloutPhasePaused, time.Minute); !ro.Spec.Paused {
		t.Fatal("pause did not set spec.paused")
	}
	mustPlugin(t, ns, "Paused", "status", "api")
	mustPlugin(t, ns, "rollout 'api' resumed", "resume", "api")
	if ro := waitPhase(t, ns, "api", v1alpha1.RolloutPhaseHealthy, time.Minute); ro.Spec.Paused {
		t.Fatal("resume did not clear spec.paused")
	}

	mustPlugin(t, ns, "rollout 'api' restarts the pods created before", "restart", "api")
	eventually(t, time.Minute, "the restart to be done", func() (bool, error) {
		ro := getRollout(t, ns, "api")
		return ro.Spec.RestartAt != nil && ro.Status.RestartedAt != nil && !ro.Status.RestartedAt.Before(ro.Spec.RestartAt), nil
	})

	image := func() string { return getRollout(t, ns, "api").Spec.Template.Spec.Containers[0].Image }
	mustPlugin(t, ns, "rolled back to the template of revision 1", "undo", "api")
	if got := image(); got != "app:1" {
		t.Fatalf("image after undo: %s", got)
	}
	mustPlugin(t, ns, "Healthy", "status", "api", "--timeout", "1m")
	// The rollback became the newest revision (3); revision 2 is app:2.
	mustPlugin(t, ns, "rolled back to the template of revision 2", "undo", "api", "--to-revision", "2")
	if got := image(); got != "app:2" {
		t.Fatalf("image after undo --to-revision 2: %s", got)
	}
	mustPlugin(t, ns, "Healthy", "status", "api", "--timeout", "1m")
}
