package analysis

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Size and time bounds of measurements. A run's status must fit in one API write, so what is
// stored of each measurement is bounded; what is evaluated is not.
const (
	// MaxValueBytes bounds a measurement's stored value. The conditions are evaluated on the
	// whole result before it is cut.
	MaxValueBytes = 1024
	// MaxMessageBytes bounds a measurement's stored message.
	MaxMessageBytes = 1024
	// TruncatedMarker ends a value or message that was cut.
	TruncatedMarker = "...(truncated)"
	// MaxResponseBytes bounds the response body a provider reads (prometheus, web).
	MaxResponseBytes = 10 << 20
	// MaxProviderTimeout caps a provider's timeout, whatever the metric asks for.
	MaxProviderTimeout = 5 * time.Minute
)

// BoundMeasurement returns m with its value cut to MaxValueBytes and its message to
// MaxMessageBytes, each ending in TruncatedMarker when cut. A cut value is said in the message.
// Redact before bounding, so that a secret is never cut into a prefix the redactor would miss.
func BoundMeasurement(m v1alpha1.Measurement) v1alpha1.Measurement {
	if n := len(m.Value); n > MaxValueBytes {
		m.Value = truncate(m.Value, MaxValueBytes)
		note := fmt.Sprintf("value truncated to %d of %d bytes; the conditions were evaluated on the whole result", MaxValueBytes, n)
		if m.Message == "" {
			m.Message = note
		} else {
			m.Message += "; " + note
		}
	}
	if len(m.Message) > MaxMessageBytes {
		m.Message = truncate(m.Message, MaxMessageBytes)
	}
	return m
}

// truncate cuts s to at most n bytes, on a rune boundary, ending in TruncatedMarker.
func truncate(s string, n int) string {
	cut := n - len(TruncatedMarker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + TruncatedMarker
}

// ProviderTimeout is a provider's timeout of seconds, capped at MaxProviderTimeout.
func ProviderTimeout(seconds int64) time.Duration {
	if seconds <= 0 || seconds > int64(MaxProviderTimeout/time.Second) {
		return MaxProviderTimeout
	}
	return time.Duration(seconds) * time.Second
}
