package webhook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// newReceiver is a Receiver with every secret, a recorder triggering each GitSyncs per event,
// and its own registry.
func newReceiver(each int) (*Receiver, *recorder) {
	rec := &recorder{each: each}
	return &Receiver{
		Secrets: staticSecrets(allSecrets),
		Trigger: rec.trigger,
		Metrics: NewMetrics(prometheus.NewRegistry()),
	}, rec
}

// The counters are read through client_model rather than client_golang's testutil, which
// would need a module the main module does not require.

// counterValue reads one series of the requests counter.
func counterValue(t *testing.T, m *Metrics, provider string, outcome Outcome) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.requests.WithLabelValues(provider, string(outcome)).Write(&out); err != nil {
		t.Fatalf("read %s{provider=%q,outcome=%q}: %v", requestsMetric, provider, outcome, err)
	}
	return out.GetCounter().GetValue()
}

func count(t *testing.T, rc *Receiver, provider string, outcome Outcome) float64 {
	t.Helper()
	return counterValue(t, rc.Metrics, provider, outcome)
}

// seriesCount is how many series a collector has.
func seriesCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 1024)
	c.Collect(ch)
	close(ch)
	return len(ch)
}

// assertResponse checks the status, the body and that exactly one request was counted, under
// provider and outcome.
func assertResponse(t *testing.T, rc *Receiver, w *httptest.ResponseRecorder, provider string, outcome Outcome, wantStatus int, wantBody string) {
	t.Helper()
	body := w.Body.String()
	if w.Code != wantStatus {
		t.Errorf("status = %d, want %d (body %q)", w.Code, wantStatus, body)
	}
	if !strings.Contains(body, wantBody) {
		t.Errorf("body = %q, want it to contain %q", body, wantBody)
	}
	if got := count(t, rc, provider, outcome); got != 1 {
		t.Errorf("%s{provider=%q,outcome=%q} = %v, want 1", requestsMetric, provider, outcome, got)
	}
	if got := seriesCount(rc.Metrics.requests); got != len(outcomes)*(len(providers)+1) {
		t.Errorf("the counter has %d series, want one per provider and outcome", got)
	}
	var total float64
	for _, p := range append(providerNames(), ProviderUnknown) {
		for _, o := range outcomes {
			total += count(t, rc, p, o)
		}
	}
	if total != 1 {
		t.Errorf("%v requests counted, want 1", total)
	}
}

func TestReceiverTriggersEachProvider(t *testing.T) {
	for _, tc := range []struct {
		provider, event, body string
		wantEvents            int
	}{
		{ProviderGitHub, "push", githubPushBody, 1},
		{ProviderGitea, "push", giteaPushBody, 1},
		{ProviderGitLab, "Push Hook", gitlabPushBody, 1},
		{ProviderBitbucket, "repo:push", bitbucketPushBody, 2},
		{ProviderGeneric, "", genericBody, 1},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			rc, rec := newReceiver(2)
			w := serve(rc, http.MethodPost, signedHeaders(t, tc.provider, tc.event, tc.body), tc.body)
			want := "triggered 2 GitSyncs"
			if tc.wantEvents == 2 {
				want = "triggered 4 GitSyncs"
			}
			assertResponse(t, rc, w, tc.provider, OutcomeTriggered, http.StatusOK, want)
			if len(rec.events) != tc.wantEvents {
				t.Fatalf("Trigger called with %d events, want %d", len(rec.events), tc.wantEvents)
			}
			want2, _ := providerNamed(t, tc.provider).parse(signedHeaders(t, tc.provider, tc.event, tc.body), []byte(tc.body))
			assertEvents(t, rec.events, want2.events)
		})
	}
}

func TestReceiverPassesTheParsedEvent(t *testing.T) {
	rc, rec := newReceiver(1)
	w := serve(rc, http.MethodPost, signedHeaders(t, ProviderGitHub, "push", githubPushBody), githubPushBody)
	assertResponse(t, rc, w, ProviderGitHub, OutcomeTriggered, http.StatusOK, "triggered 1 GitSync\n")
	assertEvents(t, rec.events, []Event{{
		Provider: ProviderGitHub,
		RepoURLs: []string{"https://github.com/Acme/config.git", "git@github.com:Acme/config.git",
			"https://github.com/Acme/config", "git://github.com/Acme/config.git"},
		Branch: "main", Commit: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", DefaultBranch: "main",
	}})
}

func TestReceiverOutcomes(t *testing.T) {
	big := `{"pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	exactly := `{"ref":"refs/heads/main","repository":{"clone_url":"https://github.com/Acme/config.git"},"pad":"`
	exactly += strings.Repeat("x", MaxBodyBytes-len(exactly)-2) + `"}`
	for _, tc := range []struct {
		name       string
		method     string
		h          http.Header
		body       string
		each       int
		provider   string
		outcome    Outcome
		wantStatus int
		wantBody   string
	}{
		{"wrong signature", http.MethodPost, headers("X-GitHub-Event", "push", "X-Hub-Signature-256", "sha256="+sign("wrong", githubPushBody)),
			githubPushBody, 1, ProviderGitHub, OutcomeUnauthorized, 401, "signature does not match"},
		{"missing signature", http.MethodPost, headers("X-GitHub-Event", "push"),
			githubPushBody, 1, ProviderGitHub, OutcomeUnauthorized, 401, "missing X-Hub-Signature-256 header"},
		{"wrong gitlab token", http.MethodPost, headers("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "guess"),
			gitlabPushBody, 1, ProviderGitLab, OutcomeUnauthorized, 401, "token does not match"},
		{"unknown sender", http.MethodPost, headers("X-Gogs-Event", "push"),
			githubPushBody, 1, ProviderUnknown, OutcomeUnauthorized, 401, "unrecognized sender"},
		{"unsigned unknown event", http.MethodPost, headers("X-GitHub-Event", "issues"),
			`{}`, 1, ProviderGitHub, OutcomeUnauthorized, 401, "missing X-Hub-Signature-256"},
		{"body over 1 MiB", http.MethodPost, signedHeaders(t, ProviderGitHub, "push", big[:MaxBodyBytes+1]),
			big[:MaxBodyBytes+1], 1, ProviderGitHub, OutcomeTooLarge, 413, "body is larger than 1048576 bytes"},
		{"body of exactly 1 MiB", http.MethodPost, signedHeaders(t, ProviderGitHub, "push", exactly),
			exactly, 1, ProviderGitHub, OutcomeTriggered, 200, "triggered 1 GitSync"},
		{"GET", http.MethodGet, signedHeaders(t, ProviderGitHub, "push", ""),
			"", 1, ProviderGitHub, OutcomeMethodNotAllowed, 405, "only POST is accepted"},
		{"GET from nobody", http.MethodGet, headers(), "", 1, ProviderUnknown, OutcomeMethodNotAllowed, 405, "only POST"},
		{"ping", http.MethodPost, signedHeaders(t, ProviderGitHub, "ping", githubPingBody),
			githubPingBody, 1, ProviderGitHub, OutcomeIgnored, 200, `ignored github event "ping"`},
		{"unknown event", http.MethodPost, signedHeaders(t, ProviderGitHub, "issues", `{"action":"opened"}`),
			`{"action":"opened"}`, 1, ProviderGitHub, OutcomeIgnored, 200, `ignored github event "issues"`},
		{"deleted branch", http.MethodPost, signedHeaders(t, ProviderGitHub, "push", githubDeleteBody),
			githubDeleteBody, 1, ProviderGitHub, OutcomeIgnored, 200, "ignored deletion of refs/heads/feature"},
		{"nothing matches", http.MethodPost, signedHeaders(t, ProviderGitLab, "Push Hook", gitlabPushBody),
			gitlabPushBody, 0, ProviderGitLab, OutcomeNoMatch, 200, "no GitSync matches this push"},
		{"unparsable payload", http.MethodPost, signedHeaders(t, ProviderGitea, "push", `{"ref":`),
			`{"ref":`, 1, ProviderGitea, OutcomeBadRequest, 400, "parse gitea push payload"},
		{"generic without repoURL", http.MethodPost, signedHeaders(t, ProviderGeneric, "", `{}`),
			`{}`, 1, ProviderGeneric, OutcomeBadRequest, 400, "has no repoURL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, rec := newReceiver(tc.each)
			w := serve(rc, tc.method, tc.h, tc.body)
			assertResponse(t, rc, w, tc.provider, tc.outcome, tc.wantStatus, tc.wantBody)
			if triggered := len(rec.events) > 0; triggered != (tc.outcome == OutcomeTriggered || tc.outcome == OutcomeNoMatch) {
				t.Errorf("Trigger called with %d events for outcome %s", len(rec.events), tc.outcome)
			}
			if tc.method == http.MethodGet && w.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", w.Header().Get("Allow"))
			}
		})
	}
}

func TestReceiverRefusesProvidersWithoutSecret(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			rc, rec := newReceiver(1)
			only := allSecrets
			switch p.name {
			case ProviderGitHub:
				only.GitHub = ""
			case ProviderGitLab:
				only.GitLab = ""
			case ProviderGitea:
				only.Gitea = ""
			case ProviderBitbucket:
				only.Bitbucket = ""
			case ProviderGeneric:
				only.Generic = ""
			}
			rc.Secrets = staticSecrets(only)
			body := map[string]string{ProviderGitHub: githubPushBody, ProviderGitLab: gitlabPushBody, ProviderGitea: giteaPushBody,
				ProviderBitbucket: bitbucketPushBody, ProviderGeneric: genericBody}[p.name]
			event := map[string]string{ProviderGitHub: "push", ProviderGitLab: "Push Hook", ProviderGitea: "push",
				ProviderBitbucket: "repo:push"}[p.name]
			w := serve(rc, http.MethodPost, signedHeaders(t, p.name, event, body), body)
			assertResponse(t, rc, w, p.name, OutcomeUnauthorized, 401, "no "+p.name+" webhook secret is configured")
			if len(rec.events) != 0 {
				t.Errorf("Trigger called with %d events, want none", len(rec.events))
			}
		})
	}
}

func TestReceiverWithoutSecretsRefusesAll(t *testing.T) {
	rc, rec := newReceiver(1)
	rc.Secrets = nil
	w := serve(rc, http.MethodPost, signedHeaders(t, ProviderGitHub, "push", githubPushBody), githubPushBody)
	assertResponse(t, rc, w, ProviderGitHub, OutcomeUnauthorized, 401, "no github webhook secret is configured")
	if len(rec.events) != 0 {
		t.Errorf("Trigger called with %d events, want none", len(rec.events))
	}
}

func TestReceiverErrors(t *testing.T) {
	failing := errors.New("apiserver unavailable")
	for _, tc := range []struct {
		name  string
		setup func(rc *Receiver, rec *recorder)
	}{
		{"secret lookup fails", func(rc *Receiver, _ *recorder) {
			rc.Secrets = func(context.Context) (Secrets, error) { return Secrets{}, failing }
		}},
		{"trigger fails", func(_ *Receiver, rec *recorder) { rec.err = failing }},
		{"no trigger", func(rc *Receiver, _ *recorder) { rc.Trigger = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, rec := newReceiver(1)
			tc.setup(rc, rec)
			w := serve(rc, http.MethodPost, signedHeaders(t, ProviderGitHub, "push", githubPushBody), githubPushBody)
			assertResponse(t, rc, w, ProviderGitHub, OutcomeError, 500, "cannot ")
			if strings.Contains(w.Body.String(), failing.Error()) {
				t.Errorf("body %q must not carry the internal error", w.Body.String())
			}
		})
	}
}

func TestResponsesNeverEchoSecrets(t *testing.T) {
	rc, _ := newReceiver(1)
	h := headers("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "attacker-guess")
	w := serve(rc, http.MethodPost, h, gitlabPushBody)
	for _, s := range []string{gitlabSecret, "attacker-guess"} {
		if strings.Contains(w.Body.String(), s) {
			t.Errorf("body %q echoes %q", w.Body.String(), s)
		}
	}
	if w.Code != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", w.Code)
	}
}

func TestNewMetricsReusesARegisteredCounter(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, second := NewMetrics(reg), NewMetrics(reg)
	first.observe(ProviderGitHub, OutcomeTriggered)
	second.observe(ProviderGitHub, OutcomeTriggered)
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	if len(families) != 1 || families[0].GetName() != requestsMetric {
		t.Fatalf("gathered %d families, want only %s", len(families), requestsMetric)
	}
	if got := len(families[0].GetMetric()); got != len(outcomes)*(len(providers)+1) {
		t.Errorf("%d series gathered, want one per provider and outcome", got)
	}
	if v := counterValue(t, second, ProviderGitHub, OutcomeTriggered); v != 2 {
		t.Errorf("triggered count = %v, want 2 from both receivers", v)
	}
	var none *Metrics
	none.observe(ProviderGitHub, OutcomeTriggered) // a nil *Metrics counts nothing and does not panic
}

func TestReceiverLimitsABodyOfUnknownLength(t *testing.T) {
	rc, rec := newReceiver(1)
	body := strings.Repeat("x", MaxBodyBytes+1)
	req := httptest.NewRequest(http.MethodPost, "/any/path", strings.NewReader(body))
	req.ContentLength = -1 // as with chunked encoding: only reading finds the size
	req.Header = signedHeaders(t, ProviderGitHub, "push", body)
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	assertResponse(t, rc, w, ProviderGitHub, OutcomeTooLarge, 413, "body is larger than")
	if len(rec.events) != 0 {
		t.Errorf("Trigger called with %d events, want none", len(rec.events))
	}
}
