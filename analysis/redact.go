package analysis

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Redacted replaces a secret value in messages, values, events and logs.
const Redacted = "*****"

// Redactor removes resolved Secret values from text. It also puts back the form a metric's
// URL or address had before its arguments were substituted, so that a message names the
// endpoint as the template wrote it. The zero value and nil redact nothing.
//
// It is built once per reconcile, from the arguments it resolved, and every message, status,
// event and log of the run goes through it.
type Redactor struct {
	// pairs are (old, new) replacements, longest old first.
	pairs    []string
	replacer *strings.Replacer
}

// NewRedactor returns a redactor for the given secret values and for the substituted strings
// (substituted URL or address → the same field before substitution). Empty values are ignored.
func NewRedactor(secrets []string, unsubstituted map[string]string) *Redactor {
	type pair struct{ old, new string }
	var pairs []pair
	seen := map[string]bool{}
	add := func(old, new string) {
		if old == "" || old == new || seen[old] {
			return
		}
		seen[old] = true
		pairs = append(pairs, pair{old, new})
	}
	for substituted, original := range unsubstituted {
		add(substituted, original)
	}
	for _, s := range secrets {
		for _, form := range secretForms(s) {
			add(form, Redacted)
		}
	}
	// Longest first, so that a whole URL is replaced before the secret inside it, and a
	// secret that contains another is replaced whole.
	slices.SortStableFunc(pairs, func(a, b pair) int {
		return cmp.Or(cmp.Compare(len(b.old), len(a.old)), strings.Compare(a.old, b.old))
	})
	r := &Redactor{}
	for _, p := range pairs {
		r.pairs = append(r.pairs, p.old, p.new)
	}
	if len(r.pairs) > 0 {
		r.replacer = strings.NewReplacer(r.pairs...)
	}
	return r
}

// secretForms are the ways a secret value can be written into a message: as it is, escaped in a
// URL's query, path segment or path (as url.URL.String writes it), quoted by Go (%q, as
// url.Error does) and escaped in JSON.
func secretForms(s string) []string {
	if s == "" {
		return nil
	}
	forms := []string{s, url.QueryEscape(s), url.PathEscape(s), (&url.URL{Path: s}).EscapedPath()}
	if q := strconv.Quote(s); len(q) >= 2 {
		forms = append(forms, q[1:len(q)-1])
	}
	if j, err := json.Marshal(s); err == nil && len(j) >= 2 {
		forms = append(forms, string(j[1:len(j)-1]))
	}
	return forms
}

// String returns s with every secret value replaced by Redacted.
func (r *Redactor) String(s string) string {
	if r == nil || r.replacer == nil || s == "" {
		return s
	}
	return r.replacer.Replace(s)
}

// Error returns err with a redacted message, or err itself when nothing needed redacting (so
// that errors.Is keeps working for errors that hold no secret).
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := r.String(msg); red != msg {
		return errors.New(red)
	}
	return err
}

// Measurement returns m with its message, value and metadata redacted.
func (r *Redactor) Measurement(m v1alpha1.Measurement) v1alpha1.Measurement {
	m.Message, m.Value = r.String(m.Message), r.String(m.Value)
	if len(m.Metadata) > 0 {
		md := make(map[string]string, len(m.Metadata))
		for k, v := range m.Metadata {
			md[k] = r.String(v)
		}
		m.Metadata = md
	}
	return m
}

// Status redacts every message, value and metadata value of a run's status in place.
func (r *Redactor) Status(st *v1alpha1.AnalysisRunStatus) {
	if r == nil || r.replacer == nil {
		return
	}
	st.Message = r.String(st.Message)
	for i := range st.MetricResults {
		res := &st.MetricResults[i]
		res.Message = r.String(res.Message)
		for j := range res.Measurements {
			res.Measurements[j] = r.Measurement(res.Measurements[j])
		}
	}
}
