package gitsync

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/inventory"
)

// Triggers that find the channel full wait in one goroutine per GitSync; one that comes while a
// send waits is not lost (one more send follows), and many collapse into that one.
func TestOverflowSendsOncePerWaitAndNeverLosesATrigger(t *testing.T) {
	ch := make(chan types.NamespacedName) // unbuffered: every send waits for the reader
	var o overflow
	a := types.NamespacedName{Namespace: "ns", Name: "a"}
	b := types.NamespacedName{Namespace: "ns", Name: "b"}
	sendTo := func(k types.NamespacedName) func() { return func() { ch <- k } }
	o.send(a, sendTo(a))
	for range 50 {
		o.send(a, sendTo(a)) // while the first waits: one more send, not 50
	}
	o.send(b, sendTo(b))

	got := map[types.NamespacedName]int{}
	deadline := time.After(10 * time.Second)
	for got[a] < 2 || got[b] < 1 {
		select {
		case k := <-ch:
			got[k]++
		case <-deadline:
			t.Fatalf("sends received %v, want a twice and b once", got)
		}
	}
	// Nothing else is on its way: the map empties once the goroutines are done.
	waitIdle(t, &o)
	select {
	case k := <-ch:
		t.Fatalf("an extra send for %v", k)
	default:
	}
	if got[a] != 2 || got[b] != 1 {
		t.Errorf("sends %v, want a twice and b once", got)
	}
	// After the goroutines ended, a new trigger sends again.
	o.send(a, sendTo(a))
	select {
	case k := <-ch:
		if k != a {
			t.Errorf("sent %v, want %v", k, a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a trigger after the overflow emptied was not sent")
	}
}

func waitIdle(t *testing.T, o *overflow) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o.mu.Lock()
		n := len(o.waiting)
		o.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d overflow goroutines still waiting", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A GitSync that manages its own manifest leaves itself out of its health and wave gate; any
// other GitSync, a same-named object of another kind or namespace, is not itself.
func TestIsSelf(t *testing.T) {
	s := &run{gs: &v1alpha1.GitSync{}}
	s.gs.Namespace, s.gs.Name = "argo", "root"
	for _, tc := range []struct {
		id   inventory.ID
		want bool
	}{
		{inventory.ID{Group: "sluice.dev", Kind: "GitSync", Namespace: "argo", Name: "root"}, true},
		{inventory.ID{Group: "sluice.dev", Kind: "GitSync", Namespace: "argo", Name: "child"}, false},
		{inventory.ID{Group: "sluice.dev", Kind: "GitSync", Namespace: "other", Name: "root"}, false},
		{inventory.ID{Group: "", Kind: "ConfigMap", Namespace: "argo", Name: "root"}, false},
		{inventory.ID{Group: "example.com", Kind: "GitSync", Namespace: "argo", Name: "root"}, false},
	} {
		if got := s.isSelf(tc.id); got != tc.want {
			t.Errorf("isSelf(%v) = %v, want %v", tc.id, got, tc.want)
		}
	}
}
