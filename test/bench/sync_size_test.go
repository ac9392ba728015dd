package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/test/gitserver"
)

// Targets of bench/sync-size. They are reported, not enforced: a miss is logged.
const (
	syncSizeFirstSyncTarget = 15 * time.Second
	syncSizeResyncTarget    = time.Second
	syncSizePeakRSSTarget   = 150 // MiB
)

// BenchmarkSyncSize (bench/sync-size): a GitSync (automated, prune, interval 1h) of one directory
// of 1,000 objects in a fresh namespace: 600 ConfigMaps in sync wave 0, 200 Services in wave 1 and
// 200 Deployments of 1 replica in wave 2. The controller runs only the gitsync controller. It
// reports the first sync (GitSync created, commit already pushed -> lastAppliedRevision is the
// commit and health Healthy) with its API requests by verb and resource, then 10 re-syncs of the
// same revision woken by a label change on the GitSync (no new operation): the time until the
// controller's reconcile finished (controller_runtime_reconcile_total), its API requests and its
// writes other than events and gitsyncs/status (0 expected), and the controller's peak RSS.
func BenchmarkSyncSize(b *testing.B) {
	const configMaps, services, deployments = 600, 200, 200
	const objects = configMaps + services + deployments
	const resyncs = 10
	ctx := context.Background()
	c := gitSyncClient(b)

	// Only the gitsync controller, with a Git cache of its own (the first sync clones).
	// BENCH_CONTROLLER_ARGS comes last, so that it still overrides these.
	b.Setenv("BENCH_CONTROLLER_ARGS", strings.Join([]string{"--controllers", "gitsync", "--git-cache-dir", b.TempDir(),
		os.Getenv("BENCH_CONTROLLER_ARGS")}, " "))
	ctrl := startController(b)
	ns := newBenchNamespace(b)

	srv, rev := syncSizeRepo(b, configMaps, services, deployments)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git-creds"},
		StringData: map[string]string{"username": "sync", "password": "s3cret-pass"}}
	if err := c.Create(ctx, sec); err != nil {
		b.Fatalf("create secret: %v", err)
	}
	gs := &sluicev1alpha1.GitSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
		Spec: sluicev1alpha1.GitSyncSpec{
			Source:      sluicev1alpha1.GitSyncSource{RepoURL: srv.URL("config"), Path: "app", SecretRef: &sluicev1alpha1.LocalObjectReference{Name: "git-creds"}},
			Destination: sluicev1alpha1.GitSyncDestination{Namespace: ns},
			SyncPolicy:  &sluicev1alpha1.SyncPolicy{Automated: &sluicev1alpha1.AutomatedSync{Prune: true}},
			Interval:    "1h",
		},
	}

	// 1. The first sync.
	kindsBefore, cpuBefore, gitBefore := ctrl.requestsByKind(b), ctrl.cpuSeconds(b), srv.Requests()
	start := time.Now()
	if err := c.Create(ctx, gs); err != nil {
		b.Fatalf("create gitsync: %v", err)
	}
	var resolvedAt, appliedAt time.Time
	final, healthyAt := followGitSync(b, c, ns, gs.Name, 5*time.Minute, "the first sync applied and Healthy", func(g *sluicev1alpha1.GitSync, at time.Time) bool {
		if resolvedAt.IsZero() && g.Status.Sync != nil && g.Status.Sync.Revision == rev {
			resolvedAt = at // fetched: the controller records the revision before it applies
		}
		if appliedAt.IsZero() && g.Status.LastAppliedRevision == rev {
			appliedAt = at
		}
		return g.Status.LastAppliedRevision == rev && g.Status.Health != nil && g.Status.Health.Status == sluicev1alpha1.HealthHealthy
	})
	firstSync := healthyAt.Sub(start)
	kindsFirst := ctrl.requestsByKind(b)
	extra := map[string]float64{
		"objects": objects,
		"first sync: created -> revision recorded (s)": resolvedAt.Sub(start).Seconds(),
		"first sync: revision recorded -> applied (s)": appliedAt.Sub(resolvedAt).Seconds(),
		"first sync: applied -> Healthy (s)":           healthyAt.Sub(appliedAt).Seconds(),
		"first sync: created -> applied (s)":           appliedAt.Sub(start).Seconds(),
		"first sync: created -> Healthy (s)":           firstSync.Seconds(),
		"first sync: controller CPU (s)":               ctrl.cpuSeconds(b) - cpuBefore,
		"first sync: Git requests":                     float64(srv.Requests() - gitBefore),
		"first sync: peak RSS (MiB)":                   ctrl.peakRSS(b),
		"first sync: writes (not events, status)":      countWrites(kindsBefore, kindsFirst),
		"first sync: gitsyncs/status writes":           countStatusWrites(kindsBefore, kindsFirst),
	}
	extra["first sync: API requests"] = requestTotals("first sync: API requests, ", kindsBefore, kindsFirst, extra)
	checkSyncSize(b, c, final, ns, rev, configMaps, services, deployments)

	// 2. Re-syncs of the same revision: a label change wakes the controller, no operation starts.
	reconciles := func() float64 { return ctrl.metricSum(b, "controller_runtime_reconcile_total", `controller="gitsync"`) }
	waitReconcilesQuiet(b, reconciles)
	history := len(final.Status.History)
	var resyncTimes []float64
	var writes, statusWrites float64
	kindsResync, gitResync, reconcilesResync := ctrl.requestsByKind(b), srv.Requests(), reconciles()
	kindsSum := map[string]float64{}
	var cpu float64
	for i := range resyncs {
		before, n, cpu0 := ctrl.requestsByKind(b), reconciles(), ctrl.cpuSeconds(b)
		t := time.Now()
		patch := fmt.Appendf(nil, `{"metadata":{"labels":{"bench.sluice.dev/touch":"%d"}}}`, i)
		if err := c.Patch(ctx, &sluicev1alpha1.GitSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: gs.Name}}, client.RawPatch(types.MergePatchType, patch)); err != nil {
			b.Fatalf("label the gitsync: %v", err)
		}
		var done time.Time // to within waitFor's 20ms poll and one metrics scrape
		waitFor(b, time.Minute, "the label change reconciled", func() bool {
			if reconciles() > n {
				done = time.Now()
				return true
			}
			return false
		})
		after := ctrl.requestsByKind(b)
		cpu += ctrl.cpuSeconds(b) - cpu0
		resyncTimes = append(resyncTimes, done.Sub(t).Seconds())
		writes += countWrites(before, after)
		statusWrites += countStatusWrites(before, after)
		for k, v := range after {
			kindsSum[k] += v - before[k]
		}
		waitReconcilesQuiet(b, reconciles)
	}
	kindsAfter := ctrl.requestsByKind(b)
	extra["re-sync: writes (not events, status)"] = writes / resyncs
	extra["re-sync: gitsyncs/status writes"] = statusWrites / resyncs
	extra["re-sync: reconciles per label change"] = (reconciles() - reconcilesResync) / resyncs
	extra["re-sync: controller CPU (s)"] = cpu / resyncs
	extra["re-sync: Git requests"] = float64(srv.Requests()-gitResync) / resyncs
	extra["re-sync: peak RSS after re-syncs (MiB)"] = ctrl.peakRSS(b)
	// Per re-sync, summed over the measured windows only; the total also counts what came between.
	extra["re-sync: API requests"] = requestTotals("re-sync: API requests, ", map[string]float64{}, scaled(kindsSum, 1.0/resyncs), extra)
	extra["re-sync: API requests incl. settling"] = (kindsAfter[totalRequests] - kindsResync[totalRequests]) / resyncs
	if g := getGitSync(b, c, ns, gs.Name); len(g.Status.History) != history || g.Status.OperationState == nil ||
		g.Status.OperationState.Phase != sluicev1alpha1.OperationSucceeded {
		b.Errorf("a re-sync started a new operation: %d history entries (%d after the first sync), last operation %s",
			len(g.Status.History), history, describeGitSync(g))
	}

	resync := summarize(resyncTimes)
	extra["target: first sync (s)"] = syncSizeFirstSyncTarget.Seconds()
	extra["target: re-sync (s)"] = syncSizeResyncTarget.Seconds()
	extra["target: peak RSS (MiB)"] = syncSizePeakRSSTarget
	report(b, "bench/sync-size", map[string]stats{
		"re-sync: label change -> reconciled (s)": resync,
	}, extra)
	if firstSync >= syncSizeFirstSyncTarget {
		b.Logf("target missed: first sync took %.2fs (target < %s)", firstSync.Seconds(), syncSizeFirstSyncTarget)
	}
	if resync.Median >= syncSizeResyncTarget.Seconds() || writes > 0 {
		b.Logf("target missed: re-sync median %.3fs (target < %s), %.0f writes in %d re-syncs (target 0)", resync.Median, syncSizeResyncTarget, writes, resyncs)
	}
	if rss := extra["re-sync: peak RSS after re-syncs (MiB)"]; rss >= syncSizePeakRSSTarget {
		b.Logf("target missed: controller peak RSS %.0f MiB (target < %d MiB)", rss, syncSizePeakRSSTarget)
	}
}

// syncSizeRepo starts a Git server (basic auth sync/s3cret-pass) with repository "config" whose
// directory app holds one file per object, and returns the pushed commit. The Services are
// ClusterIP Services: 200 of the 253 addresses of the bench cluster's 10.0.0.0/24 service range.
func syncSizeRepo(b *testing.B, configMaps, services, deployments int) (*gitserver.Server, string) {
	b.Helper()
	dir := b.TempDir()
	srv, err := gitserver.Start(dir, gitserver.Options{Username: "sync", Password: "s3cret-pass"})
	if err != nil {
		b.Fatalf("start git server: %v", err)
	}
	b.Cleanup(srv.Stop)
	repo, err := gitserver.NewRepo(dir, "config")
	if err != nil {
		b.Fatalf("create repo: %v", err)
	}
	files := map[string]string{}
	for i := range configMaps {
		name := fmt.Sprintf("cm-%03d", i)
		files["app/"+name+".yaml"] = fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: %s
  annotations:
    argocd.argoproj.io/sync-wave: "0"
data:
  key: value-%d
`, name, i)
	}
	for i := range services {
		name := fmt.Sprintf("svc-%03d", i)
		files["app/"+name+".yaml"] = fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  annotations:
    argocd.argoproj.io/sync-wave: "1"
spec:
  selector:
    app: web-%03d
  ports:
  - port: 80
    targetPort: 8080
`, name, i)
	}
	for i := range deployments {
		name := fmt.Sprintf("web-%03d", i)
		files["app/"+name+".yaml"] = fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  annotations:
    argocd.argoproj.io/sync-wave: "2"
spec:
  replicas: 1
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
      - name: app
        image: app:1
`, name)
	}
	if err := repo.WriteFiles(files); err != nil {
		b.Fatalf("write files: %v", err)
	}
	rev, err := repo.Commit("1,000 objects")
	if err != nil {
		b.Fatalf("commit: %v", err)
	}
	return srv, rev
}

// checkSyncSize fails the benchmark when the first sync did not leave every object in the
// cluster, with the GitSync Synced and Ready.
func checkSyncSize(b *testing.B, c client.Client, gs *sluicev1alpha1.GitSync, ns, rev string, configMaps, services, deployments int) {
	b.Helper()
	ctx := context.Background()
	if gs.Status.Sync == nil || gs.Status.Sync.Status != sluicev1alpha1.SyncStatusSynced || gs.Status.Sync.Revision != rev ||
		!meta.IsStatusConditionTrue(gs.Status.Conditions, sluicev1alpha1.ConditionReady) {
		b.Errorf("after the first sync: sync %+v, conditions %+v, want Synced at %s and Ready", gs.Status.Sync, gs.Status.Conditions, rev)
	}
	if n := len(gs.Status.Inventory); n != configMaps+services+deployments {
		b.Errorf("inventory has %d entries, want %d", n, configMaps+services+deployments)
	}
	owned := client.MatchingLabels{sluicev1alpha1.LabelGitSyncName: gs.Name, sluicev1alpha1.LabelGitSyncNamespace: ns}
	for _, l := range []struct {
		list client.ObjectList
		want int
	}{{&corev1.ConfigMapList{}, configMaps}, {&corev1.ServiceList{}, services}, {&appsv1.DeploymentList{}, deployments}} {
		if err := c.List(ctx, l.list, client.InNamespace(ns), owned); err != nil {
			b.Fatalf("list: %v", err)
		}
		if n := meta.LenList(l.list); n != l.want {
			b.Errorf("%T: %d objects of the GitSync, want %d", l.list, n, l.want)
		}
	}
}

// gitSyncClient is env.client with the GitSync kinds added to its scheme (TestMain registers
// the Rollout kinds only). A second client made this late would wake controller-runtime's
// "log.SetLogger(...) was never called" warning.
func gitSyncClient(b *testing.B) client.WithWatch {
	b.Helper()
	if err := sluicev1alpha1.AddToScheme(env.client.Scheme()); err != nil {
		b.Fatalf("add the GitSync kinds to the scheme: %v", err)
	}
	return env.client
}

func getGitSync(b *testing.B, c client.Client, ns, name string) *sluicev1alpha1.GitSync {
	b.Helper()
	gs := &sluicev1alpha1.GitSync{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, gs); err != nil {
		b.Fatalf("get gitsync: %v", err)
	}
	return gs
}

// followGitSync watches one GitSync until cond holds and returns it with the moment the watch
// delivered it.
func followGitSync(b *testing.B, c client.WithWatch, ns, name string, timeout time.Duration, what string,
	cond func(*sluicev1alpha1.GitSync, time.Time) bool) (*sluicev1alpha1.GitSync, time.Time) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	byName := client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", name)}
	var list sluicev1alpha1.GitSyncList
	if err := c.List(ctx, &list, client.InNamespace(ns), byName); err != nil {
		b.Fatalf("list gitsyncs: %v", err)
	}
	var last *sluicev1alpha1.GitSync
	for i := range list.Items {
		if last = &list.Items[i]; cond(last, time.Now()) {
			return last, time.Now()
		}
	}
	w, err := c.Watch(ctx, &sluicev1alpha1.GitSyncList{}, client.InNamespace(ns), byName,
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		b.Fatalf("watch gitsyncs: %v", err)
	}
	defer w.Stop()
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatalf("watch closed waiting for %s; last status: %s", what, describeGitSync(last))
			}
			if gs, isGitSync := ev.Object.(*sluicev1alpha1.GitSync); isGitSync {
				at := time.Now()
				if last = gs; cond(gs, at) {
					return gs, at
				}
			}
		case <-ctx.Done():
			b.Fatalf("timed out after %s waiting for %s; last status: %s", timeout, what, describeGitSync(last))
		}
	}
}

func describeGitSync(gs *sluicev1alpha1.GitSync) string {
	if gs == nil {
		return "none"
	}
	st := gs.Status
	st.Inventory = nil
	if st.OperationState != nil {
		op := *st.OperationState
		op.Resources = nil
		st.OperationState = &op
	}
	return fmt.Sprintf("%+v", st)
}

// waitReconcilesQuiet waits until the gitsync controller has finished no reconcile for 3s (more
// than its 2s health recheck), so that a measurement starts from an idle controller.
func waitReconcilesQuiet(b *testing.B, reconciles func() float64) {
	b.Helper()
	const quiet = 3 * time.Second
	last, since := reconciles(), time.Now()
	waitFor(b, 2*time.Minute, "the gitsync controller to settle", func() bool {
		if n := reconciles(); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= quiet
	})
}

// metricSum adds up the samples of a metric on the controller's metrics endpoint whose labels
// contain match.
func (c *controller) metricSum(b *testing.B, name, match string) float64 {
	b.Helper()
	resp, err := http.Get("http://" + c.metrics + "/metrics")
	if err != nil {
		b.Fatalf("read controller metrics: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") && strings.Contains(line[:strings.IndexByte(line, '}')+1], match) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// writeVerb reports whether a "verb resource" key of requestsByKind is a write.
func writeVerb(key string) (resource string, ok bool) {
	verb, resource, found := strings.Cut(key, " ")
	switch verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return resource, found
	}
	return "", false
}

// countWrites counts the writes between two requestsByKind readings, not counting events and
// gitsyncs/status.
func countWrites(before, after map[string]float64) float64 {
	var n float64
	for k, v := range after {
		if res, ok := writeVerb(k); ok && res != "events" && res != "gitsyncs/status" {
			n += v - before[k]
		}
	}
	return n
}

// countStatusWrites counts the writes of gitsyncs/status between two requestsByKind readings.
func countStatusWrites(before, after map[string]float64) float64 {
	var n float64
	for k, v := range after {
		if res, ok := writeVerb(k); ok && res == "gitsyncs/status" {
			n += v - before[k]
		}
	}
	return n
}

// requestTotals turns the difference of two requestsByKind readings into report rows named
// prefix + "verb resource" and returns the total.
func requestTotals(prefix string, before, after map[string]float64, into map[string]float64) float64 {
	for k, v := range after {
		if d := v - before[k]; d > 0 && k != totalRequests {
			into[prefix+k] = d
		}
	}
	return after[totalRequests] - before[totalRequests]
}

func scaled(m map[string]float64, f float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v * f
	}
	return out
}
