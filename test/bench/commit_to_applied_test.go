package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// Target of bench/commit-to-applied. It is reported, not enforced: a miss is logged.
const commitToAppliedTarget = time.Second

// BenchmarkCommitToApplied (bench/commit-to-applied): one GitSync (automated, prune, interval 1h,
// so that only the webhook wakes it) of 50 objects, 40 ConfigMaps and 10 Deployments of 1
// replica. The controller serves its webhook receiver (--webhook-bind-address) with the GitHub
// secret of a Secret it is given (--webhook-secret). Then 10 times: push a commit that changes 10
// objects (data.key of 8 ConfigMaps, a pod-template annotation of 2 Deployments), send a signed
// GitHub push webhook at once, and measure push -> all 10 applied: from the moment the push
// returned to the arrival, on watches of the namespace's ConfigMaps and Deployments that the
// benchmark runs, of the last of the 10 objects with its new value. Also: push -> webhook
// answered, push -> status.lastAppliedRevision seen (on a watch of the GitSync), and the
// controller's API requests and Git requests per push.
func BenchmarkCommitToApplied(b *testing.B) {
	const configMaps, deployments = 40, 10
	const changedConfigMaps, changedDeployments = 8, 2
	const repeats = 10
	ctx := context.Background()
	c := gitSyncClient(b)

	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	hookSecret := hex.EncodeToString(secret)
	whSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "bench-webhook-"},
		StringData: map[string]string{"github": hookSecret}}
	if err := c.Create(ctx, whSecret); err != nil {
		b.Fatalf("create webhook secret: %v", err)
	}
	b.Cleanup(func() { _ = env.client.Delete(context.Background(), whSecret) })
	hookAddr := freeAddr(b)
	ctrl := startGitSyncController(b, "--webhook-bind-address", hookAddr, "--webhook-secret", "default/"+whSecret.Name)
	ns := newBenchNamespace(b)

	srv, repo := newConfigRepo(b)
	files := map[string]string{}
	for i := range configMaps {
		name := fmt.Sprintf("cm-%02d", i)
		files["app/"+name+".yaml"] = benchConfigMapYAML(name, "rev-0")
	}
	for i := range deployments {
		name := fmt.Sprintf("web-%02d", i)
		files["app/"+name+".yaml"] = benchDeploymentYAML(name, "0")
	}
	rev := commitFiles(b, repo, files, "50 objects")
	start := time.Now()
	gs := createBenchGitSync(b, c, ns, srv.URL("config"), false)
	_, firstSync := waitSyncedHealthy(b, c, ns, gs.Name, rev, start, 5*time.Minute)
	reconciles := gitSyncReconciles(b, ctrl)
	waitReconcilesQuiet(b, reconciles)
	waitFor(b, 30*time.Second, "the webhook receiver", func() bool {
		resp, err := http.Get("http://" + hookAddr + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})

	stream := watchNamespace(b, c, ns, &corev1.ConfigMapList{}, &appsv1.DeploymentList{}, &sluicev1alpha1.GitSyncList{})
	var toApplied, toFirst, toAnswered, toRevision, pushTook []time.Duration
	kindsSum := map[string]float64{}
	var gitRequests, writes float64
	for i := 1; i <= repeats; i++ {
		want := map[string]string{} // kind/name -> new value
		changed := map[string]string{}
		for j := range changedConfigMaps {
			name := fmt.Sprintf("cm-%02d", j)
			v := fmt.Sprintf("rev-%d", i)
			changed["app/"+name+".yaml"] = benchConfigMapYAML(name, v)
			want["ConfigMap/"+name] = v
		}
		for j := range changedDeployments {
			name := fmt.Sprintf("web-%02d", j)
			v := fmt.Sprint(i)
			changed["app/"+name+".yaml"] = benchDeploymentYAML(name, v)
			want["Deployment/"+name] = v
		}
		stream.drain()
		kinds0, git0 := ctrl.requestsByKind(b), srv.Requests()
		t0 := time.Now()
		sha := commitFiles(b, repo, changed, fmt.Sprintf("change 10 objects (%d)", i))
		pushedAt := time.Now()
		status, answer := sendGitHubPush(b, hookAddr, hookSecret, srv.URL("config"), sha, i)
		answeredAt := time.Now()
		if status != http.StatusOK {
			b.Fatalf("push %d: the webhook answered %d %q", i, status, answer)
		}
		if answer != "triggered 1 GitSync" {
			b.Errorf("push %d: the webhook answered %q, want it to trigger 1 GitSync", i, answer)
		}
		var first, last, revisionAt time.Time
		pending := len(want)
		_, ok := stream.until(time.Minute, func(obj client.Object, at time.Time) bool {
			var key, got string
			switch o := obj.(type) {
			case *corev1.ConfigMap:
				key, got = "ConfigMap/"+o.Name, o.Data["key"]
			case *appsv1.Deployment:
				key, got = "Deployment/"+o.Name, o.Spec.Template.Annotations["bench.sluice.dev/rev"]
			case *sluicev1alpha1.GitSync:
				if revisionAt.IsZero() && o.Status.LastAppliedRevision == sha {
					revisionAt = at
				}
			}
			if v, tracked := want[key]; tracked && v == got {
				delete(want, key)
				pending--
				if first.IsZero() {
					first = at
				}
				last = at
			}
			return pending == 0 && !revisionAt.IsZero()
		})
		if !ok {
			b.Fatalf("push %d (%s): after a minute, not applied: %v; lastAppliedRevision seen: %v", i, short(sha), want, !revisionAt.IsZero())
		}
		toApplied = append(toApplied, last.Sub(pushedAt))
		toFirst = append(toFirst, first.Sub(pushedAt))
		toAnswered = append(toAnswered, answeredAt.Sub(pushedAt))
		toRevision = append(toRevision, revisionAt.Sub(pushedAt))
		pushTook = append(pushTook, pushedAt.Sub(t0))
		// The Deployments roll out: let the health rechecks end before the next push.
		waitReconcilesQuiet(b, reconciles)
		kinds1 := ctrl.requestsByKind(b)
		for k, v := range kinds1 {
			kindsSum[k] += v - kinds0[k]
		}
		writes += countWrites(kinds0, kinds1)
		gitRequests += float64(srv.Requests() - git0)
	}

	extra := map[string]float64{
		"objects":                               configMaps + deployments,
		"objects changed per push":              changedConfigMaps + changedDeployments,
		"first sync: created -> Healthy (s)":    firstSync.Seconds(),
		"per push: writes (not events, status)": writes / repeats,
		"per push: Git requests":                gitRequests / repeats,
		"peak RSS (MiB)":                        ctrl.peakRSS(b),
		"webhook requests triggered":            ctrl.metricSum(b, "sluice_gitsync_webhook_requests_total", `outcome="triggered"`),
	}
	extra["per push: API requests"] = requestTotals("per push: API requests, ", map[string]float64{}, scaled(kindsSum, 1.0/repeats), extra)
	extra["target: push -> all applied, median (ms)"] = float64(commitToAppliedTarget / time.Millisecond)
	applied := summarize(millis(toApplied))
	report(b, "bench/commit-to-applied", map[string]stats{
		"push -> all 10 applied (ms)":      applied,
		"push -> first applied (ms)":       summarize(millis(toFirst)),
		"push -> webhook answered (ms)":    summarize(millis(toAnswered)),
		"push -> lastAppliedRevision (ms)": summarize(millis(toRevision)),
		"git commit and push (ms)":         summarize(millis(pushTook)),
	}, extra)
	if applied.Median >= float64(commitToAppliedTarget/time.Millisecond) {
		b.Logf("target missed: push -> all 10 applied median %.0f ms (target < %s)", applied.Median, commitToAppliedTarget)
	}
}

// sendGitHubPush posts a GitHub push event of sha on main of cloneURL to the webhook receiver,
// signed with secret (X-Hub-Signature-256), and returns the answer.
func sendGitHubPush(b *testing.B, addr, secret, cloneURL, sha string, delivery int) (int, string) {
	b.Helper()
	payload := map[string]any{
		"ref":    "refs/heads/main",
		"before": "0000000000000000000000000000000000000000",
		"after":  sha,
		"repository": map[string]any{
			"full_name":      "bench/config",
			"clone_url":      cloneURL,
			"default_branch": "main",
		},
	}
	body, err := json.Marshal(payload)
	if err != nil {
		b.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d", delivery))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatalf("send the push webhook: %v", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(bytes.TrimSpace(answer))
}
