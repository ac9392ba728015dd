package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-logr/logr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// MaxBodyBytes is the largest request body accepted; a larger one gets 413.
const MaxBodyBytes = 1 << 20

// Outcome is how a request ended: the outcome label of the metric.
type Outcome string

// Outcomes; the package documentation says when each happens.
const (
	OutcomeTriggered        Outcome = "triggered"
	OutcomeNoMatch          Outcome = "no_match"
	OutcomeIgnored          Outcome = "ignored"
	OutcomeUnauthorized     Outcome = "unauthorized"
	OutcomeTooLarge         Outcome = "too_large"
	OutcomeBadRequest       Outcome = "bad_request"
	OutcomeMethodNotAllowed Outcome = "method_not_allowed"
	OutcomeError            Outcome = "error"
)

var outcomes = []Outcome{
	OutcomeTriggered, OutcomeNoMatch, OutcomeIgnored, OutcomeUnauthorized,
	OutcomeTooLarge, OutcomeBadRequest, OutcomeMethodNotAllowed, OutcomeError,
}

// Status is the HTTP status code the outcome is answered with.
func (o Outcome) Status() int {
	switch o {
	case OutcomeUnauthorized:
		return http.StatusUnauthorized
	case OutcomeTooLarge:
		return http.StatusRequestEntityTooLarge
	case OutcomeBadRequest:
		return http.StatusBadRequest
	case OutcomeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case OutcomeError:
		return http.StatusInternalServerError
	default:
		return http.StatusOK
	}
}

// Trigger makes the GitSyncs an event concerns (see Matches) refresh at once, and returns how
// many it triggered. It runs while the sender waits, so it should only enqueue: the receiver
// never fetches, and neither should the Trigger.
type Trigger func(ctx context.Context, ev Event) (triggered int, err error)

// Receiver is the http.Handler of the webhook port. It answers every path the same way.
type Receiver struct {
	// Secrets returns the senders' secrets; it is called for each authenticated request, so it
	// should read from a cache. A nil Secrets refuses every request.
	Secrets func(ctx context.Context) (Secrets, error)
	// Trigger is called once for each event of an authenticated push; required.
	Trigger Trigger
	// Metrics counts every request; nil counts nothing.
	Metrics *Metrics
}

// result is the end of one request: its outcome, the body answered and what to log.
type result struct {
	outcome   Outcome
	message   string
	err       error // a server-side failure, logged but not answered
	events    []Event
	triggered int
}

// ServeHTTP authenticates, parses and triggers; see the package documentation for the outcomes.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p, known := detect(req.Header)
	log := logf.FromContext(req.Context()).WithName("webhook").WithValues("provider", p.name)
	if known {
		log = log.WithValues("delivery", req.Header.Get(p.deliveryHeader))
	}
	ctx := logf.IntoContext(req.Context(), log)

	res := rc.handle(ctx, w, req, p, known)
	rc.Metrics.observe(p.name, res.outcome)
	logResult(log, res)
	if res.outcome == OutcomeMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	http.Error(w, res.message, res.outcome.Status())
}

// handle runs the steps of a request in order, stopping at the first that decides the outcome.
func (rc *Receiver) handle(ctx context.Context, w http.ResponseWriter, req *http.Request, p provider, known bool) result {
	if req.Method != http.MethodPost {
		return result{outcome: OutcomeMethodNotAllowed, message: "only POST is accepted"}
	}
	if !known {
		return result{outcome: OutcomeUnauthorized, message: "unrecognized sender: expected X-GitHub-Event, " +
			"X-Gitlab-Event, X-Gitea-Event, X-Event-Key or an Authorization: Bearer header"}
	}
	body, res, ok := readBody(w, req)
	if !ok {
		return res
	}
	if res, ok := rc.authenticate(ctx, req.Header, body, p); !ok {
		return res
	}
	push, err := p.parse(req.Header, body)
	if err != nil {
		return result{outcome: OutcomeBadRequest, message: err.Error()}
	}
	if len(push.events) == 0 {
		return result{outcome: OutcomeIgnored, message: push.ignored}
	}
	return rc.trigger(ctx, push.events)
}

// readBody reads at most MaxBodyBytes; false with the result to answer when it cannot.
func readBody(w http.ResponseWriter, req *http.Request) ([]byte, result, bool) {
	tooLarge := result{outcome: OutcomeTooLarge, message: fmt.Sprintf("body is larger than %d bytes", MaxBodyBytes)}
	if req.ContentLength > MaxBodyBytes {
		return nil, tooLarge, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBodyBytes))
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &maxBytes):
		return nil, tooLarge, false
	case err != nil:
		return nil, result{outcome: OutcomeBadRequest, message: "read body: " + err.Error()}, false
	}
	return body, result{}, true
}

// authenticate checks the request against the provider's secret; false with the result to
// answer when it fails.
func (rc *Receiver) authenticate(ctx context.Context, h http.Header, body []byte, p provider) (result, bool) {
	var secrets Secrets
	if rc.Secrets != nil {
		var err error
		if secrets, err = rc.Secrets(ctx); err != nil {
			err = fmt.Errorf("look up webhook secrets: %w", err)
			return result{outcome: OutcomeError, message: "cannot look up webhook secrets", err: err}, false
		}
	}
	secret := p.secret(secrets)
	if secret == "" {
		return result{outcome: OutcomeUnauthorized, message: "no " + p.name + " webhook secret is configured"}, false
	}
	if err := p.verify(h, body, secret); err != nil {
		return result{outcome: OutcomeUnauthorized, message: err.Error()}, false
	}
	return result{}, true
}

// trigger hands each event to the Trigger and adds up what it triggered.
func (rc *Receiver) trigger(ctx context.Context, events []Event) result {
	if rc.Trigger == nil {
		return result{outcome: OutcomeError, message: "cannot trigger GitSyncs", events: events,
			err: errors.New("trigger GitSyncs: the receiver has no Trigger")}
	}
	total := 0
	for _, ev := range events {
		n, err := rc.Trigger(ctx, ev)
		total += n
		if err != nil {
			err = fmt.Errorf("trigger GitSyncs for %s: %w", describeEvent(ev), err)
			return result{outcome: OutcomeError, message: "cannot trigger GitSyncs", err: err, events: events, triggered: total}
		}
	}
	if total == 0 {
		return result{outcome: OutcomeNoMatch, message: "no GitSync matches this push", events: events}
	}
	noun := "GitSyncs"
	if total == 1 {
		noun = "GitSync"
	}
	return result{outcome: OutcomeTriggered, message: fmt.Sprintf("triggered %d %s", total, noun), events: events, triggered: total}
}

// logResult logs the end of a request: an error for a server-side failure, an info line for a
// trigger or a refusal (a misconfigured sender is found this way), a debug line otherwise.
func logResult(log logr.Logger, res result) {
	kv := []any{"outcome", string(res.outcome), "status", res.outcome.Status()}
	if len(res.events) > 0 {
		pushes := make([]string, 0, len(res.events))
		for _, ev := range res.events {
			pushes = append(pushes, describeEvent(ev))
		}
		kv = append(kv, "pushes", pushes)
	}
	if res.outcome == OutcomeTriggered || res.outcome == OutcomeError {
		kv = append(kv, "triggered", res.triggered)
	}
	switch res.outcome {
	case OutcomeError:
		log.Error(res.err, "Webhook request failed", kv...)
	case OutcomeTriggered:
		log.Info("Triggered GitSyncs from a webhook", kv...)
	case OutcomeUnauthorized, OutcomeTooLarge, OutcomeBadRequest:
		log.Info("Refused a webhook request", append(kv, "reason", res.message)...)
	default:
		log.V(1).Info("Handled a webhook request", append(kv, "reason", res.message)...)
	}
}

// describeEvent names a push for logs and errors: repository, ref and commit.
func describeEvent(ev Event) string {
	repo := ""
	if len(ev.RepoURLs) > 0 {
		repo = NormalizeURL(ev.RepoURLs[0])
	}
	ref := "any ref"
	switch {
	case ev.Branch != "":
		ref = "branch " + ev.Branch
	case ev.Tag != "":
		ref = "tag " + ev.Tag
	}
	if ev.Commit != "" {
		return fmt.Sprintf("%s %s at %s", repo, ref, ev.Commit)
	}
	return fmt.Sprintf("%s %s", repo, ref)
}
