package webhook

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestServerServesUntilItsContextEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	rc, rec := newReceiver(1)
	srv := &Server{Handler: rc}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.serve(ctx, ln) }()

	req, err := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/hooks/github", strings.NewReader(githubPushBody))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header = signedHeaders(t, ProviderGitHub, "push", githubPushBody)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "triggered 1 GitSync") {
		t.Errorf("response = %d %q, want 200 triggered 1 GitSync", res.StatusCode, body)
	}
	if len(rec.events) != 1 {
		t.Errorf("Trigger called with %d events, want 1", len(rec.events))
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve after cancel: %v, want nil", err)
	}
}

func TestServerStartReportsABadAddress(t *testing.T) {
	srv := &Server{Addr: "256.0.0.1:-1", Handler: http.NotFoundHandler()}
	err := srv.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listen for webhooks on 256.0.0.1:-1") {
		t.Errorf("Start = %v, want a listen error naming the address", err)
	}
	if srv.NeedLeaderElection() {
		t.Errorf("NeedLeaderElection = true, want false unless NeedLeader is set")
	}
}
