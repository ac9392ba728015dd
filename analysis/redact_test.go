package analysis

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

func TestRedactorRemovesEveryFormOfASecret(t *testing.T) {
	secret := `tok+en/"x y"`
	red := NewRedactor([]string{secret, ""}, map[string]string{
		"http://metrics/api?token=" + secret: "http://metrics/api?token={{args.token}}",
	})
	tests := []struct{ in, want string }{
		{"GET http://metrics/api?token=" + secret + ": refused", "GET http://metrics/api?token={{args.token}}: refused"},
		{"body: token=" + secret, "body: token=*****"},
		{"escaped: " + url.QueryEscape(secret), "escaped: *****"},
		{"path: " + url.PathEscape(secret), "path: *****"},
		{"url: " + (&url.URL{Scheme: "http", Host: "h", Path: "/" + secret + "/api"}).String(), "url: http://h/*****/api"},
		{fmt.Sprintf("quoted: %q", "a "+secret), `quoted: "a *****"`},
		{`json: {"t":"tok+en/\"x y\""}`, `json: {"t":"*****"}`},
		{"nothing secret", "nothing secret"},
	}
	for _, tt := range tests {
		if got := red.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	plain := errors.New("plain")
	if red.Error(plain) != plain {
		t.Error("an error without a secret must be returned as it is")
	}
	if got := red.Error(fmt.Errorf("wrapped: %s", secret)).Error(); strings.Contains(got, secret) {
		t.Errorf("Error kept the secret: %q", got)
	}
	st := v1alpha1.AnalysisRunStatus{Message: "run " + secret, MetricResults: []v1alpha1.MetricResult{{
		Message: "metric " + secret,
		Measurements: []v1alpha1.Measurement{{Message: "m " + secret, Value: secret,
			Metadata: map[string]string{"k": secret}}},
	}}}
	red.Status(&st)
	if s := fmt.Sprintf("%+v", st); strings.Contains(s, "tok+en") {
		t.Errorf("status kept the secret: %s", s)
	}
	var none *Redactor
	if none.String("x") != "x" || (&Redactor{}).String("x") != "x" {
		t.Error("a nil or empty redactor must change nothing")
	}
}

// TestRedactorLongestFirst: a secret containing another secret is replaced whole.
func TestRedactorLongestFirst(t *testing.T) {
	red := NewRedactor([]string{"abc", "abcdef"}, nil)
	if got := red.String("x abcdef y abc"); got != "x ***** y *****" {
		t.Fatalf("got %q", got)
	}
}
