package analysisrun

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// TestRetryBackoffIsCappedAt10s: a run that keeps failing is retried at least every 10 s (Argo
// Rollouts' cap), not after controller-runtime's default of up to about 16 minutes, and a success
// starts the backoff over.
func TestRetryBackoffIsCappedAt10s(t *testing.T) {
	rl := newRateLimiter()
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "run"}}
	var last time.Duration
	for i := 0; i < 40; i++ {
		d := rl.When(req)
		if d > 10*time.Second {
			t.Fatalf("failure %d backs off %v, want at most 10s", i+1, d)
		}
		if d < last {
			t.Fatalf("failure %d backs off %v, less than the previous %v", i+1, d, last)
		}
		last = d
	}
	if last != 10*time.Second {
		t.Fatalf("after 40 failures the backoff is %v, want the 10s cap", last)
	}
	rl.Forget(req)
	if d := rl.When(req); d != 5*time.Millisecond {
		t.Fatalf("after a success the first backoff is %v, want 5ms", d)
	}
}
