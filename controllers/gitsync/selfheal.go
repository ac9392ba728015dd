package gitsync

import (
	"time"
)

// Self-heal back-off: a writer that keeps changing a field back is not fought in a loop. After
// more than healFightReverts reverts of one object within healFightWindow, self-heal waits 2s,
// then 6s, 18s … up to 5 minutes (Argo CD's self-heal backoff), reverting once between waits; a
// quiet minute after the last revert ends the back-off.
const (
	healFightReverts = 3
	healFightWindow  = time.Minute
	healBackoffBase  = 2 * time.Second
	healBackoffMax   = 5 * time.Minute
	healBackoffScale = 3
)

// healState is the self-heal history of one managed object.
type healState struct {
	reverts  []time.Time // within the last healFightWindow
	last     time.Time   // the last revert
	backoffs int         // consecutive back-offs
	until    time.Time   // no revert before
	manager  string      // the other writer, when backing off
	fields   []string
	reported bool // reported drifted (no selfHeal), not seen in sync since
}

// decide says whether to revert now; when not, wait is how long self-heal backs off.
func (h *healState) decide(now time.Time) (revert bool, wait time.Duration) {
	if now.Before(h.until) {
		return false, h.until.Sub(now)
	}
	kept := h.reverts[:0]
	for _, t := range h.reverts {
		if now.Sub(t) < healFightWindow {
			kept = append(kept, t)
		}
	}
	h.reverts = kept
	if h.backoffs > 0 && now.Sub(h.last) >= healFightWindow && now.Sub(h.until) >= healFightWindow {
		h.backoffs = 0 // calm for a minute: the fight is over
	}
	limit := healFightReverts
	if h.backoffs > 0 {
		limit = 1 // backing off: one revert between waits
	}
	if len(h.reverts) >= limit {
		d := healBackoffBase
		for i := 0; i < h.backoffs && d < healBackoffMax; i++ {
			d *= healBackoffScale
		}
		d = min(d, healBackoffMax)
		h.backoffs++
		h.until = now.Add(d)
		h.reverts = nil
		return false, d
	}
	h.reverts = append(h.reverts, now)
	h.last = now
	return true, 0
}

// fighting reports whether self-heal is in a back-off at now: while it waits, and for a minute
// after the wait, when the other writer may strike again.
func (h *healState) fighting(now time.Time) bool {
	return h.backoffs > 0 && now.Before(h.until.Add(healFightWindow))
}
