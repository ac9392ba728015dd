package main

import (
	"strings"
	"testing"
)

func TestParseFlagsAndLogger(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{args: nil},
		{args: []string{"--log-level", "debug", "--log-format", "text"}},
		{args: []string{"--log-level", "3"}},
		{args: []string{"--log-level", "loud"}, wantErr: `--log-level "loud"`},
		{args: []string{"--log-format", "xml"}, wantErr: `--log-format "xml"`},
		{args: []string{"stray"}, wantErr: "unexpected arguments"},
		{args: []string{"--controllers", "rollout,gitsync"}},
		{args: []string{"--controllers", "rollout,flagger"}, wantErr: `unknown controller "flagger"`},
		{args: []string{"--controllers", ","}, wantErr: "names no controller"},
		{args: []string{"--metrics-bind-address", "localhost:9090"}},
		{args: []string{"--metrics-bind-address", "[::1]:9090"}},
		{args: []string{"--metrics-bind-address", "0"}},
		{args: []string{"--metrics-bind-address", ":8443", "--metrics-secure"}},
		{args: []string{"--metrics-bind-address", ":8080"}, wantErr: "plain HTTP is served on a loopback address only"},
		{args: []string{"--metrics-bind-address", "10.0.0.1:8080"}, wantErr: "plain HTTP is served on a loopback address only"},
		{args: []string{"--metrics-bind-address", "8080"}, wantErr: `--metrics-bind-address "8080"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseFlags(tt.args)
			if err == nil {
				_, err = newLogger(o)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("want error containing %q, got %v", tt.wantErr, err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.leaderElect || o.metricsAddr != "127.0.0.1:8080" || o.metricsSecure || o.probeAddr != ":8081" || o.logFormat != "json" {
		t.Fatalf("unexpected defaults: %+v", o)
	}
	enabled, err := o.enabled()
	if err != nil || !enabled["rollout"] || !enabled["analysisrun"] || !enabled["gitsync"] {
		t.Fatalf("default controllers = %v (%v), want all", enabled, err)
	}
	if o.gitTimeout.String() != "1m0s" || o.syncConcurrency != 8 || o.defaultServiceAccount != "" {
		t.Fatalf("unexpected GitSync defaults: %+v", o)
	}
}

func TestMetricsOptions(t *testing.T) {
	plain := metricsOptions(options{metricsAddr: "127.0.0.1:8080"})
	if plain.SecureServing || plain.FilterProvider != nil || plain.BindAddress != "127.0.0.1:8080" {
		t.Errorf("plain metrics options = %+v", plain)
	}
	secure := metricsOptions(options{metricsAddr: ":8443", metricsSecure: true, metricsCertDir: "/certs"})
	if !secure.SecureServing || secure.FilterProvider == nil || secure.CertDir != "/certs" || len(secure.TLSOpts) != 1 {
		t.Errorf("secure metrics options = %+v", secure)
	}
}
