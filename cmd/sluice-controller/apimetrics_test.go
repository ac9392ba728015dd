package main

import "testing"

func TestRequestKind(t *testing.T) {
	for _, c := range []struct{ method, path, watch, verb, resource string }{
		{"GET", "/api/v1/namespaces/a/pods", "", "list", "pods"},
		{"GET", "/api/v1/namespaces/a/pods", "true", "watch", "pods"},
		{"GET", "/api/v1/namespaces/a", "", "get", "namespaces"},
		{"GET", "/api/v1/namespaces", "", "list", "namespaces"},
		{"POST", "/apis/events.k8s.io/v1/namespaces/a/events", "", "create", "events"},
		{"PUT", "/apis/argoproj.io/v1alpha1/namespaces/a/rollouts/r/status", "", "update", "rollouts/status"},
		{"PATCH", "/apis/apps/v1/namespaces/a/replicasets/r-1", "", "patch", "replicasets"},
		{"PUT", "/apis/apps/v1/namespaces/a/replicasets/r-1/scale", "", "update", "replicasets/scale"},
		{"DELETE", "/apis/apps/v1/namespaces/a/replicasets/r-1", "", "delete", "replicasets"},
		{"DELETE", "/api/v1/namespaces/a/pods", "", "deletecollection", "pods"},
		{"GET", "/apis/coordination.k8s.io/v1/leases", "", "list", "leases"},
		{"GET", "/apis", "", "get", "discovery"},
		{"GET", "/version", "", "get", "discovery"},
	} {
		verb, resource := requestKind(c.method, c.path, c.watch)
		if verb != c.verb || resource != c.resource {
			t.Errorf("%s %s: got %s %s, want %s %s", c.method, c.path, verb, resource, c.verb, c.resource)
		}
	}
}
