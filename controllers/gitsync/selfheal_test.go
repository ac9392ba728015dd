package gitsync

import (
	"slices"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/sync/inventory"
)

func TestSelfHealBacksOffFromAFight(t *testing.T) {
	h := &healState{}
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// Three reverts within a minute are allowed; the fourth drift backs off 2s.
	for i := range 3 {
		if revert, wait := h.decide(at(time.Duration(i) * 100 * time.Millisecond)); !revert || wait != 0 {
			t.Fatalf("revert %d: revert=%v wait=%v, want a revert", i+1, revert, wait)
		}
	}
	if revert, wait := h.decide(at(300 * time.Millisecond)); revert || wait != 2*time.Second {
		t.Fatalf("fourth drift in a minute: revert=%v wait=%v, want a 2s back-off", revert, wait)
	}
	if !h.fighting(at(time.Second)) {
		t.Errorf("not reported as fighting during the back-off")
	}
	// During the wait: no revert, the rest of the wait.
	if revert, wait := h.decide(at(time.Second)); revert || wait != 1300*time.Millisecond {
		t.Errorf("during the back-off: revert=%v wait=%v", revert, wait)
	}
	// After it: one revert, then the next drift backs off ×3, then ×3 again, up to 5 minutes.
	now := at(2300 * time.Millisecond)
	want := []time.Duration{6 * time.Second, 18 * time.Second, 54 * time.Second, 162 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if revert, _ := h.decide(now); !revert {
			t.Fatalf("round %d: no revert after the back-off", i)
		}
		revert, wait := h.decide(now.Add(100 * time.Millisecond))
		if revert || wait != w {
			t.Fatalf("round %d: revert=%v wait=%v, want a %s back-off", i, revert, wait, w)
		}
		now = now.Add(100*time.Millisecond + wait)
	}
	// The writer stops: a quiet minute after the last wait ends the fight.
	if h.fighting(now.Add(healFightWindow + time.Second)) {
		t.Errorf("still fighting after a quiet minute")
	}
	later := now.Add(2 * healFightWindow)
	for i := range 3 {
		if revert, _ := h.decide(later.Add(time.Duration(i) * time.Second)); !revert {
			t.Fatalf("after the fight, revert %d refused", i+1)
		}
	}
}

// The book's decide notes the other writer and reports a new back-off step once, and what fights
// returns is a copy: a reconcile reading it while drift workers decide is not a data race (run
// with -race).
func TestHealBookDecideAndFights(t *testing.T) {
	var b healBook
	it := driftItem{owner: types.NamespacedName{Namespace: "shop", Name: "web"}, id: inventory.ID{Namespace: "shop", Name: "web", Group: "apps", Kind: "Deployment"}}
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	live := &unstructured.Unstructured{}
	live.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate, Time: &metav1.Time{Time: t0}}})
	for i := range 3 {
		if revert, _, started := b.decide(it, t0.Add(time.Duration(i)*time.Millisecond), live, []string{"spec.replicas"}); !revert || started {
			t.Fatalf("revert %d: revert=%v started=%v", i+1, revert, started)
		}
	}
	revert, wait, started := b.decide(it, t0.Add(10*time.Millisecond), live, []string{"spec.replicas"})
	if revert || wait != 2*time.Second || !started {
		t.Fatalf("fourth drift: revert=%v wait=%v started=%v, want a new 2s back-off", revert, wait, started)
	}
	if _, _, started := b.decide(it, t0.Add(time.Second), live, []string{"spec.replicas"}); started {
		t.Errorf("a drift during the wait started the back-off again")
	}
	f := b.fights(it.owner, t0.Add(time.Second))
	h, ok := f[it.id]
	if !ok || h.manager != "kubectl-edit" || len(h.fields) != 1 || h.fields[0] != "spec.replicas" {
		t.Fatalf("fights = %+v, want the Deployment with manager kubectl-edit and spec.replicas", f)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 200 {
			b.decide(it, t0.Add(time.Duration(i)*time.Second), live, []string{"spec.replicas", "spec.template"})
		}
	}()
	go func() {
		defer wg.Done()
		for i := range 200 {
			for _, h := range b.fights(it.owner, t0.Add(time.Duration(i)*time.Second)) {
				_ = len(h.fields) + len(h.reverts) + len(h.manager)
			}
		}
	}()
	wg.Wait()
	// What fights returns is the caller's: changing it leaves the book as it was.
	got := b.fights(it.owner, t0.Add(200*time.Second))
	for id, c := range got {
		before := b.fights(it.owner, t0.Add(200*time.Second))[id]
		if len(c.fields) > 0 {
			c.fields[0] = "changed by the caller"
		}
		if len(c.reverts) > 0 {
			c.reverts[0] = time.Time{}
		}
		after := b.fights(it.owner, t0.Add(200*time.Second))[id]
		if !slices.Equal(before.fields, after.fields) || !slices.Equal(before.reverts, after.reverts) {
			t.Errorf("changing the slices fights returned changed the book: %v -> %v", before.fields, after.fields)
		}
	}
}

// Without selfHeal, a drifted object is marked reported; when it comes back in line, settle says
// so once, so the GitSync is reported in sync again on the watch event.
func TestHealBookMarkThenSettle(t *testing.T) {
	var b healBook
	it := driftItem{owner: types.NamespacedName{Namespace: "shop", Name: "web"}, id: inventory.ID{Namespace: "shop", Name: "settings", Kind: "ConfigMap"}}
	if b.settle(it) {
		t.Fatalf("settle of an object never reported drifted is true")
	}
	b.mark(it)
	if !b.settle(it) {
		t.Fatalf("settle after mark is false: the GitSync would stay OutOfSync until its interval")
	}
	if b.settle(it) {
		t.Errorf("settle is true twice for one mark")
	}
}
