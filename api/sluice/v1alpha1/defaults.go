package v1alpha1

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults of a GitSync, as Argo CD's: a 3 minute poll and a retry backoff of 5s doubling to 3m,
// 5 retries when the sync is automated.
const (
	DefaultInterval        = 3 * time.Minute
	DefaultRetryLimit      = 5
	DefaultBackoffDuration = 5 * time.Second
	DefaultBackoffFactor   = 2
	DefaultBackoffMaxWait  = 3 * time.Minute
)

// GetInterval is spec.interval, DefaultInterval when empty or unparsable (the CRD validates it).
func (s *GitSyncSpec) GetInterval() time.Duration {
	if s.Interval == "" {
		return DefaultInterval
	}
	d, err := time.ParseDuration(s.Interval)
	if err != nil || d <= 0 {
		return DefaultInterval
	}
	return d
}

// GetRecurse says whether a Directory render reads sub-directories: true unless set to false.
func (s *GitSyncSpec) GetRecurse() bool {
	if s.Render.Directory == nil || s.Render.Directory.Recurse == nil {
		return true
	}
	return *s.Render.Directory.Recurse
}

// Automated is the automated policy, nil when the sync waits for a person.
func (s *GitSyncSpec) Automated() *AutomatedSync {
	if s.SyncPolicy == nil {
		return nil
	}
	return s.SyncPolicy.Automated
}

// HasSyncOption reports whether syncOptions holds KEY=true (case-insensitive on the value).
func (s *GitSyncSpec) HasSyncOption(key string) bool {
	if s.SyncPolicy == nil {
		return false
	}
	return HasOption(s.SyncPolicy.SyncOptions, key)
}

// HasOption reports whether options (KEY=VALUE strings) set key to true.
func HasOption(options []string, key string) bool {
	for _, o := range options {
		k, v, ok := strings.Cut(strings.TrimSpace(o), "=")
		if ok && strings.TrimSpace(k) == key && strings.EqualFold(strings.TrimSpace(v), "true") {
			return true
		}
	}
	return false
}

// RetryLimit is the number of retries of a failed sync: retry.limit, else 5 when automated and 0
// otherwise. A negative number retries without end.
func (s *GitSyncSpec) RetryLimit() int64 {
	if s.SyncPolicy != nil && s.SyncPolicy.Retry != nil && s.SyncPolicy.Retry.Limit != nil {
		return *s.SyncPolicy.Retry.Limit
	}
	if s.Automated() != nil {
		return DefaultRetryLimit
	}
	return 0
}

// RetryBackoff is the wait before retry number n (1 for the first retry).
func (s *GitSyncSpec) RetryBackoff(n int64) (time.Duration, error) {
	first, factor, maxWait := DefaultBackoffDuration, int64(DefaultBackoffFactor), DefaultBackoffMaxWait
	if s.SyncPolicy != nil && s.SyncPolicy.Retry != nil && s.SyncPolicy.Retry.Backoff != nil {
		b := s.SyncPolicy.Retry.Backoff
		var err error
		if b.Duration != "" {
			if first, err = parseSeconds(b.Duration); err != nil {
				return 0, fmt.Errorf("syncPolicy.retry.backoff.duration: %w", err)
			}
		}
		if b.MaxDuration != "" {
			if maxWait, err = parseSeconds(b.MaxDuration); err != nil {
				return 0, fmt.Errorf("syncPolicy.retry.backoff.maxDuration: %w", err)
			}
		}
		if b.Factor != nil {
			if *b.Factor < 1 {
				return 0, fmt.Errorf("syncPolicy.retry.backoff.factor: %d is less than 1", *b.Factor)
			}
			factor = *b.Factor
		}
	}
	wait := first
	for i := int64(1); i < n && wait < maxWait; i++ {
		wait *= time.Duration(factor)
	}
	return min(wait, maxWait), nil
}

// parseSeconds reads a Go duration or a bare number of seconds.
func parseSeconds(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%q is negative", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a duration nor a number of seconds", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}
