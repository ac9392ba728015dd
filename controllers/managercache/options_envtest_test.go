package managercache_test

import (
	"context"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sluice-dev/sluice/controllers/managercache"
)

// Against a real API server: a cache built from managercache.Options lists the Rollouts' ReplicaSets and
// the analysis Jobs, without their managedFields, and none of the others.
func TestCacheOptionsAgainstAnAPIServer(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS must name the control plane binaries (see docs/testing.md)")
	}
	testEnv := &envtest.Environment{}
	cfg, err := testEnv.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = testEnv.Stop() })
	scheme := clientgoscheme.Scheme // the kinds cached here are all built in
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	tmpl := func(l map[string]string, restart corev1.RestartPolicy) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l},
			Spec: corev1.PodSpec{RestartPolicy: restart, Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	}
	for name, l := range map[string]map[string]string{
		"rollout-rs":    {"app": "web", "rollouts-pod-template-hash": "abc"},
		"deployment-rs": {"app": "web", "pod-template-hash": "def"},
	} {
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: l},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: l}, Template: tmpl(l, corev1.RestartPolicyAlways)}}
		if err := c.Create(ctx, rs); err != nil {
			t.Fatalf("create ReplicaSet %s: %v", name, err)
		}
	}
	for name, l := range map[string]map[string]string{
		"analysis-job": {"analysisrun.argoproj.io/uid": "1234"},
		"presync-hook": {"app": "web"},
	} {
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: l},
			Spec: batchv1.JobSpec{Suspend: ptr.To(true), Template: tmpl(nil, corev1.RestartPolicyNever)}}
		if err := c.Create(ctx, job); err != nil {
			t.Fatalf("create Job %s: %v", name, err)
		}
	}

	opts, err := managercache.Options()
	if err != nil {
		t.Fatal(err)
	}
	opts.Scheme = scheme
	ca, err := cache.New(cfg, opts)
	if err != nil {
		t.Fatalf("build cache: %v", err)
	}
	go func() { _ = ca.Start(ctx) }()
	syncCtx, cancelSync := context.WithTimeout(ctx, 30*time.Second)
	defer cancelSync()
	if !ca.WaitForCacheSync(syncCtx) {
		t.Fatal("the cache did not start")
	}
	var rss appsv1.ReplicaSetList
	if err := ca.List(syncCtx, &rss, client.InNamespace("default")); err != nil {
		t.Fatalf("list cached ReplicaSets: %v", err)
	}
	var jobs batchv1.JobList
	if err := ca.List(syncCtx, &jobs, client.InNamespace("default")); err != nil {
		t.Fatalf("list cached Jobs: %v", err)
	}
	var rsNames, jobNames []string
	for _, rs := range rss.Items {
		rsNames = append(rsNames, rs.Name)
	}
	for _, j := range jobs.Items {
		jobNames = append(jobNames, j.Name)
	}
	if len(rss.Items) != 1 || rss.Items[0].Name != "rollout-rs" {
		t.Errorf("cached ReplicaSets = %v, want only rollout-rs", rsNames)
	} else if rss.Items[0].ManagedFields != nil {
		t.Errorf("the cached ReplicaSet keeps its managedFields")
	}
	if len(jobs.Items) != 1 || jobs.Items[0].Name != "analysis-job" {
		t.Errorf("cached Jobs = %v, want only analysis-job", jobNames)
	}
}
