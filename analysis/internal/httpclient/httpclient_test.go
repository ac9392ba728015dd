package httpclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

func options() Options {
	return Options{
		Headers: []v1alpha1.WebMetricHeader{{Key: "X-Token", Value: "tenant-secret"}},
		Auth:    &v1alpha1.Authentication{BasicAuth: &v1alpha1.BasicAuth{Username: "u", Password: "p"}},
	}
}

// TestRedirectToAnotherHostIsRefused: a redirect to another host fails, and that host never sees
// the headers or credentials; a redirect on the same host is followed with them.
func TestRedirectToAnotherHostIsRefused(t *testing.T) {
	var otherHits atomic.Int32
	var otherSawSecret atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		if _, _, ok := r.BasicAuth(); ok || r.Header.Get("X-Token") != "" {
			otherSawSecret.Store(true)
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer other.Close()
	var sameSawHeaders atomic.Bool
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/collect", http.StatusFound)
		case "/moved":
			http.Redirect(w, r, "/here", http.StatusMovedPermanently)
		case "/here":
			user, _, ok := r.BasicAuth()
			sameSawHeaders.Store(ok && user == "u" && r.Header.Get("X-Token") == "tenant-secret")
			_, _ = io.WriteString(w, `{"ok":true}`)
		}
	}))
	defer origin.Close()
	hc, err := New(context.Background(), options())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(origin.URL + "/away")
	if err == nil {
		resp.Body.Close()
		t.Fatal("a redirect to another host was followed")
	}
	if !strings.Contains(err.Error(), "refused redirect") {
		t.Fatalf("error %q does not say the redirect was refused", err)
	}
	if otherHits.Load() != 0 || otherSawSecret.Load() {
		t.Fatalf("the other host was called %d times (saw credentials: %v)", otherHits.Load(), otherSawSecret.Load())
	}
	resp, err = hc.Get(origin.URL + "/moved")
	if err != nil {
		t.Fatalf("same-host redirect: %v", err)
	}
	resp.Body.Close()
	if !sameSawHeaders.Load() {
		t.Fatal("the same-host redirect lost the headers or basic auth")
	}
}

// TestResponseBodyIsBounded: reading past MaxResponseBytes fails with a clear error; a body
// within the bound reads whole.
func TestResponseBodyIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 2048))
	}))
	defer srv.Close()
	for limit, wantErr := range map[int64]bool{1024: true, 2048: false, 4096: false} {
		hc, err := New(context.Background(), Options{MaxResponseBytes: limit})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		var tooLarge *ResponseTooLargeError
		switch {
		case wantErr && (!errors.As(err, &tooLarge) || err.Error() != "response body is larger than 1024 bytes"):
			t.Errorf("limit %d: err %v, want the body bound", limit, err)
		case !wantErr && (err != nil || len(body) != 2048):
			t.Errorf("limit %d: read %d bytes, err %v", limit, len(body), err)
		}
	}
}
