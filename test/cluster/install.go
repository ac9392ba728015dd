package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Route CRD sources: the Gateway API at the version go.mod requires, Istio at its API release.
const istioAPIModule = "istio.io/api@v1.32.0"

const fieldOwner = "sluice-test-cluster"

// CRDFiles lists the CRD manifests a test cluster installs: this project's (config/crd/bases), the
// Gateway API's standard and experimental channels, and Istio's.
func CRDFiles(repoRoot string) ([]string, error) {
	own, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(own) == 0 {
		return nil, fmt.Errorf("find this project's CRDs in %s/config/crd/bases (run `make manifests`): %v", repoRoot, err)
	}
	gatewayDir, err := moduleDir(repoRoot, "sigs.k8s.io/gateway-api")
	if err != nil {
		return nil, err
	}
	var gateway []string
	for _, channel := range []string{"standard", "experimental"} {
		files, _ := filepath.Glob(filepath.Join(gatewayDir, "config", "crd", channel, "gateway.networking.*.yaml"))
		for _, f := range files {
			// The safe-upgrades admission policy forbids installing the experimental channel over
			// the standard one; a test cluster wants both.
			if !strings.Contains(f, "_vap_") {
				gateway = append(gateway, f)
			}
		}
	}
	if len(gateway) == 0 {
		return nil, fmt.Errorf("no Gateway API CRDs under %s/config/crd", gatewayDir)
	}
	istioDir, err := moduleDir(repoRoot, istioAPIModule)
	if err != nil {
		return nil, err
	}
	istio := filepath.Join(istioDir, "kubernetes", "customresourcedefinitions.gen.yaml")
	files := append(own, gateway...)
	return append(files, istio), nil
}

// moduleDir returns the module cache directory of a module, downloading it when needed.
func moduleDir(repoRoot, module string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locate module %s: %w", module, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("locate module %s: %s %v", module, info.Error, err)
	}
	return info.Dir, nil
}

// ReadObjects decodes every object in a multi-document YAML or JSON file.
func ReadObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return DecodeObjects(data)
}

// DecodeObjects decodes every object in multi-document YAML or JSON; empty documents are skipped.
func DecodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decode object %d: %w", len(objs)+1, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// installCRDs server-side applies every CRD of CRDFiles and waits until all are Established.
func installCRDs(ctx context.Context, cfg *rest.Config, repoRoot string) error {
	files, err := CRDFiles(repoRoot)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	_ = apiextensionsv1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	var names []string
	for _, f := range files {
		objs, err := ReadObjects(f)
		if err != nil {
			return err
		}
		for _, u := range objs {
			if u.GetKind() != "CustomResourceDefinition" {
				continue
			}
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
				return fmt.Errorf("apply CRD %s from %s: %w", u.GetName(), f, err)
			}
			names = append(names, u.GetName())
		}
	}
	for _, name := range names {
		if err := waitFor(ctx, fmt.Sprintf("CRD %s to be established", name), func() (bool, error) {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, types.NamespacedName{Name: name}, crd); err != nil {
				return false, err
			}
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// NodeName is the name of the i-th kwok node.
func NodeName(i int) string { return fmt.Sprintf("kwok-node-%d", i) }

// createNodes creates n kwok nodes with room for thousands of pods and waits until kwok marks
// them Ready.
func createNodes(ctx context.Context, cfg *rest.Config, n int) error {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1000"),
		corev1.ResourceMemory: resource.MustParse("4Ti"),
		corev1.ResourcePods:   resource.MustParse("5000"),
	}
	for i := range n {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: NodeName(i),
				Labels: map[string]string{
					"type":                   "kwok",
					"kubernetes.io/hostname": NodeName(i),
					"kubernetes.io/os":       "linux",
				},
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			},
			Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
		}
		if err := c.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", node.Name, err)
		}
		if err := waitFor(ctx, "node "+node.Name+" to be Ready", func() (bool, error) {
			got := &corev1.Node{}
			if err := c.Get(ctx, types.NamespacedName{Name: node.Name}, got); err != nil {
				return false, err
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// waitDefaultServiceAccount waits for the service account controller to create the default
// namespace's ServiceAccount: pods cannot be admitted before it exists.
func waitDefaultServiceAccount(ctx context.Context, cfg *rest.Config) error {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	return waitFor(ctx, "the default ServiceAccount", func() (bool, error) {
		err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "default"}, &corev1.ServiceAccount{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

// waitFor polls cond every 50ms until it is true or ctx ends. Errors from cond are retried and
// reported if the wait times out.
func waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("wait for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
