package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/test/gitserver"
)

// Helpers shared by the GitSync part 2 benchmarks (bench/drift, bench/commit-to-applied,
// bench/idle). The GitSync of each is "app" in a fresh namespace, syncing directory app of the
// repository "config" served with basic auth sync/s3cret-pass (as bench/sync-size).

// startGitSyncController starts the controller with only the gitsync controller, a Git cache of
// its own, and the extra flags. BENCH_CONTROLLER_ARGS comes last, so that it still overrides them.
func startGitSyncController(b *testing.B, extra ...string) *controller {
	b.Helper()
	args := append([]string{"--controllers", "gitsync", "--git-cache-dir", b.TempDir()}, extra...)
	b.Setenv("BENCH_CONTROLLER_ARGS", strings.Join(append(args, os.Getenv("BENCH_CONTROLLER_ARGS")), " "))
	return startController(b)
}

// newConfigRepo starts a Git server (basic auth sync/s3cret-pass) with an empty repository "config".
func newConfigRepo(b *testing.B) (*gitserver.Server, *gitserver.Repo) {
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
	return srv, repo
}

// commitFiles writes files into the repository and commits and pushes them.
func commitFiles(b *testing.B, repo *gitserver.Repo, files map[string]string, msg string) string {
	b.Helper()
	if err := repo.WriteFiles(files); err != nil {
		b.Fatalf("write files: %v", err)
	}
	rev, err := repo.Commit(msg)
	if err != nil {
		b.Fatalf("commit: %v", err)
	}
	return rev
}

// benchConfigMapYAML is a ConfigMap whose data.key is value.
func benchConfigMapYAML(name, value string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: %s
data:
  key: %s
`, name, value)
}

// benchDeploymentYAML is a Deployment of 1 replica whose pod template carries the annotation
// bench.sluice.dev/rev: rev.
func benchDeploymentYAML(name, rev string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
      annotations:
        bench.sluice.dev/rev: %[2]q
    spec:
      containers:
      - name: app
        image: app:1
`, name, rev)
}

// createBenchGitSync creates the credentials Secret git-creds and the GitSync "app" (automated,
// prune, selfHeal as asked, interval 1h) of directory app of repoURL into ns.
func createBenchGitSync(b *testing.B, c client.Client, ns, repoURL string, selfHeal bool) *sluicev1alpha1.GitSync {
	b.Helper()
	ctx := context.Background()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git-creds"},
		StringData: map[string]string{"username": "sync", "password": "s3cret-pass"}}
	if err := c.Create(ctx, sec); err != nil {
		b.Fatalf("create secret: %v", err)
	}
	gs := &sluicev1alpha1.GitSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
		Spec: sluicev1alpha1.GitSyncSpec{
			Source:      sluicev1alpha1.GitSyncSource{RepoURL: repoURL, Path: "app", SecretRef: &sluicev1alpha1.LocalObjectReference{Name: "git-creds"}},
			Destination: sluicev1alpha1.GitSyncDestination{Namespace: ns},
			SyncPolicy:  &sluicev1alpha1.SyncPolicy{Automated: &sluicev1alpha1.AutomatedSync{Prune: true, SelfHeal: selfHeal}},
			Interval:    "1h",
		},
	}
	if err := c.Create(ctx, gs); err != nil {
		b.Fatalf("create gitsync: %v", err)
	}
	return gs
}

// waitSyncedHealthy waits until the GitSync applied rev and is Healthy, and returns it with how
// long that took from start.
func waitSyncedHealthy(b *testing.B, c client.WithWatch, ns, name, rev string, start time.Time, timeout time.Duration) (*sluicev1alpha1.GitSync, time.Duration) {
	b.Helper()
	gs, at := followGitSync(b, c, ns, name, timeout, "the sync of "+short(rev)+" applied and Healthy", func(g *sluicev1alpha1.GitSync, _ time.Time) bool {
		return g.Status.LastAppliedRevision == rev && g.Status.Health != nil && g.Status.Health.Status == sluicev1alpha1.HealthHealthy
	})
	return gs, at.Sub(start)
}

func short(rev string) string { return rev[:min(len(rev), 7)] }

// gitSyncReconciles is the number of reconciles the gitsync controller has finished.
func gitSyncReconciles(b *testing.B, ctrl *controller) func() float64 {
	return func() float64 { return ctrl.metricSum(b, "controller_runtime_reconcile_total", `controller="gitsync"`) }
}

// countResourceWrites counts the writes of one resource between two requestsByKind readings.
func countResourceWrites(before, after map[string]float64, resource string) float64 {
	var n float64
	for k, v := range after {
		if res, ok := writeVerb(k); ok && res == resource {
			n += v - before[k]
		}
	}
	return n
}

// arrival is an object a watch delivered, stamped when it arrived.
type arrival struct {
	at  time.Time
	obj client.Object
}

// objectStream merges watches on some kinds in one namespace into one stream of arrivals. A
// watch the server ends is started again (its first events are then the current state).
type objectStream struct {
	events chan arrival
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func watchNamespace(b *testing.B, c client.WithWatch, ns string, lists ...client.ObjectList) *objectStream {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &objectStream{events: make(chan arrival, 8192), cancel: cancel}
	b.Cleanup(s.stop)
	for _, list := range lists {
		w, err := c.Watch(ctx, list, client.InNamespace(ns))
		if err != nil {
			b.Fatalf("watch %T: %v", list, err)
		}
		s.wg.Go(func() {
			for {
				for ev := range w.ResultChan() {
					at := time.Now()
					obj, ok := ev.Object.(client.Object) // not a *metav1.Status (a watch error)
					if !ok {
						continue
					}
					select {
					case s.events <- arrival{at, obj}:
					case <-ctx.Done():
						return
					}
				}
				w.Stop()
				if ctx.Err() != nil {
					return
				}
				var err error
				if w, err = c.Watch(ctx, list, client.InNamespace(ns)); err != nil {
					return
				}
			}
		})
	}
	return s
}

func (s *objectStream) stop() {
	s.cancel()
	s.wg.Wait()
}

// until hands arrivals to cond until it returns true, and returns that arrival's time; ok is false
// when the timeout passed first.
func (s *objectStream) until(timeout time.Duration, cond func(obj client.Object, at time.Time) bool) (time.Time, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case a := <-s.events:
			if cond(a.obj, a.at) {
				return a.at, true
			}
		case <-timer.C:
			return time.Time{}, false
		}
	}
}

// drain drops the arrivals queued so far.
func (s *objectStream) drain() {
	for {
		select {
		case <-s.events:
		default:
			return
		}
	}
}

// millis are durations in milliseconds.
func millis(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d) / float64(time.Millisecond)
	}
	return out
}
