package gitsync

import (
	"testing"
	"time"
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
