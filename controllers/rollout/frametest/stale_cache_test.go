package frametest

import (
	"context"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// laggingCache is the reconciler's client with a cache that shows a ReplicaSet the reconciler
// created only lag after the create: until then reads answer as if it did not exist.
type laggingCache struct {
	client.Client
	lag     time.Duration
	mu      sync.Mutex
	created map[string]time.Time // ReplicaSet name -> when the reconciler created it
	creates map[string]int       // create calls by name
}

func (c *laggingCache) hidden(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.created[name]
	return ok && time.Since(at) < c.lag
}

func (c *laggingCache) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if _, ok := obj.(*appsv1.ReplicaSet); ok {
		c.mu.Lock()
		c.creates[obj.GetName()]++
		if _, seen := c.created[obj.GetName()]; !seen {
			c.created[obj.GetName()] = time.Now()
		}
		c.mu.Unlock()
	}
	return c.Client.Create(ctx, obj, opts...)
}

func (c *laggingCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*appsv1.ReplicaSet); ok && c.hidden(key.Name) {
		return apierrors.NewNotFound(appsv1.Resource("replicasets"), key.Name)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c *laggingCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	if l, ok := list.(*appsv1.ReplicaSetList); ok {
		kept := l.Items[:0]
		for _, rs := range l.Items {
			if !c.hidden(rs.Name) {
				kept = append(kept, rs)
			}
		}
		l.Items = kept
	}
	return nil
}

// TestLaggingCacheCreatesEachReplicaSetOnce: after creating a ReplicaSet the reconciler waits
// for its cache to show it (the expectations gate) instead of planning on a cache without it,
// which would create it again (or, with a new hash function or name, a second one beside it).
func TestLaggingCacheCreatesEachReplicaSetOnce(t *testing.T) {
	var lagging *laggingCache
	ctx, person := startController(t, func(c, _ client.Client) client.Client {
		lagging = &laggingCache{Client: c, lag: 2 * time.Second, created: map[string]time.Time{}, creates: map[string]int{}}
		return lagging
	})
	labels := map[string]string{"app": "web"}
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "lag"},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{}}},
			}},
		},
	}
	if err := person.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	get := func() *v1alpha1.Rollout {
		cur := &v1alpha1.Rollout{}
		if err := person.Get(ctx, client.ObjectKeyFromObject(ro), cur); err != nil {
			t.Fatal(err)
		}
		return cur
	}
	eventually(t, "the first revision Healthy", func() bool { return get().Status.Phase == v1alpha1.RolloutPhaseHealthy })
	cur := get()
	cur.Spec.Template.Spec.Containers[0].Image = "app:2"
	if err := person.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the canary paused at 50%", func() bool { return get().Status.Phase == v1alpha1.RolloutPhasePaused })
	lagging.mu.Lock()
	defer lagging.mu.Unlock()
	if len(lagging.creates) != 2 {
		t.Fatalf("ReplicaSets created: %v, want the two revisions", lagging.creates)
	}
	for name, n := range lagging.creates {
		if n != 1 {
			t.Errorf("ReplicaSet %s created %d times while the cache lagged, want once", name, n)
		}
	}
}
