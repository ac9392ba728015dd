package apply

import (
	"strings"
	"testing"
)

func TestDiffers(t *testing.T) {
	desiredDoc := `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop, labels: {app: web}},
  spec: {replicas: 2, template: {spec: {containers: [{name: web, image: "web:1", resources: {limits: {cpu: "1", memory: 1Gi}}}]}}}}`
	desired := objects(t, desiredDoc)[0]
	digest, _ := Digest(desired)
	desired.SetAnnotations(map[string]string{AnnotationDigest: digest})
	live := func(doc string) string {
		return `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop, uid: u1, resourceVersion: "9",
  labels: {app: web, extra: added}, annotations: {` + AnnotationDigest + `: ` + digest + `, deployment.kubernetes.io/revision: "1"}}, ` + doc + `, status: {replicas: 2}}`
	}
	for _, tc := range []struct {
		name   string
		live   string
		differ bool
		field  string
	}{
		{"defaults and extra fields are not drift", live(`spec: {replicas: 2, strategy: {type: RollingUpdate}, template: {spec: {restartPolicy: Always, containers: [{name: web, image: "web:1", imagePullPolicy: IfNotPresent, resources: {limits: {cpu: "1000m", memory: "1073741824"}}}]}}}`), false, ""},
		{"a changed replica count", live(`spec: {replicas: 5, template: {spec: {containers: [{name: web, image: "web:1", resources: {limits: {cpu: "1", memory: 1Gi}}}]}}}`), true, "spec.replicas"},
		{"a changed image", live(`spec: {replicas: 2, template: {spec: {containers: [{name: web, image: "web:2", resources: {limits: {cpu: "1", memory: 1Gi}}}]}}}`), true, "spec.template.spec.containers[0].image"},
		{"an extra container", live(`spec: {replicas: 2, template: {spec: {containers: [{name: web, image: "web:1", resources: {limits: {cpu: "1", memory: 1Gi}}}, {name: side, image: s}]}}}`), true, "spec.template.spec.containers"},
		{"a changed quantity", live(`spec: {replicas: 2, template: {spec: {containers: [{name: web, image: "web:1", resources: {limits: {cpu: "2", memory: 1Gi}}}]}}}`), true, "spec.template.spec.containers[0].resources.limits.cpu"},
	} {
		got, fields := Differs(objects(t, tc.live)[0], desired)
		if got != tc.differ {
			t.Errorf("%s: differs = %v (%v), want %v", tc.name, got, fields, tc.differ)
			continue
		}
		if tc.field != "" && !strings.Contains(strings.Join(fields, ","), tc.field) {
			t.Errorf("%s: fields %v lack %s", tc.name, fields, tc.field)
		}
	}
	if d, f := Differs(nil, desired); !d || f[0] != "(missing)" {
		t.Errorf("a missing object: %v %v", d, f)
	}
	// The same fields under another digest: Git changed (a field removed), so it is re-applied.
	other := objects(t, live(`spec: {replicas: 2, template: {spec: {containers: [{name: web, image: "web:1", resources: {limits: {cpu: "1", memory: 1Gi}}}]}}}`))[0]
	other.SetAnnotations(map[string]string{AnnotationDigest: "old"})
	if d, f := Differs(other, desired); !d || !strings.Contains(f[0], AnnotationDigest) {
		t.Errorf("another digest: %v %v", d, f)
	}
	// A label Git sets that was removed by hand is drift.
	noLabel := objects(t, `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop, annotations: {`+AnnotationDigest+`: `+digest+`}},
  spec: {replicas: 2, template: {spec: {containers: [{name: web, image: "web:1", resources: {limits: {cpu: "1", memory: 1Gi}}}]}}}}`)[0]
	if d, f := Differs(noLabel, desired); !d || f[0] != "metadata.labels.app" {
		t.Errorf("removed label: %v %v", d, f)
	}
}

func TestDiffersSecretStringData(t *testing.T) {
	desired := objects(t, `{apiVersion: v1, kind: Secret, metadata: {name: s}, stringData: {password: hunter2}}`)[0]
	same := objects(t, `{apiVersion: v1, kind: Secret, metadata: {name: s}, data: {password: aHVudGVyMg==}, type: Opaque}`)[0]
	changed := objects(t, `{apiVersion: v1, kind: Secret, metadata: {name: s}, data: {password: b3RoZXI=}, type: Opaque}`)[0]
	if d, f := Differs(same, desired); d {
		t.Errorf("stringData stored as data is drift: %v", f)
	}
	if d, _ := Differs(changed, desired); !d {
		t.Error("a changed Secret value is not drift")
	}
}
