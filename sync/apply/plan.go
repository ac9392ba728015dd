// Package apply applies a GitSync's rendered objects with server-side apply, in the order Argo CD
// users expect (phase, then sync wave, then kind, then name), runs hooks, prunes what left Git, and
// says whether a live object differs from its desired object.
//
// The planning half (this file, prepare.go, drift.go) is pure; applier.go holds the I/O.
package apply

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/inventory"
)

// Phases of a sync, in the order they run. SyncFail runs only when another phase failed.
const (
	PhasePreSync  = v1alpha1.HookPreSync
	PhaseSync     = v1alpha1.HookSync
	PhasePostSync = v1alpha1.HookPostSync
	PhaseSyncFail = v1alpha1.HookSyncFail
)

// Task is one object of a sync.
type Task struct {
	Obj   *unstructured.Unstructured
	ID    inventory.ID
	Phase string
	Wave  int
	// Hook marks an object that runs once per sync (a Job or Pod with the hook annotation) rather
	// than one kept in sync.
	Hook bool
	// DeletePolicies of a hook: HookSucceeded, HookFailed, BeforeHookCreation.
	DeletePolicies []string
}

// HasDeletePolicy reports whether the hook is deleted on p.
func (t Task) HasDeletePolicy(p string) bool { return slices.Contains(t.DeletePolicies, p) }

// Wave is the objects of one phase and sync wave, in kind then name order.
type Wave struct {
	Phase string
	Wave  int
	Tasks []Task
}

// Plan is the order of a sync.
type Plan struct {
	// Waves are the PreSync, Sync and PostSync waves in the order they run.
	Waves []Wave
	// SyncFail are the hooks that run when the sync fails.
	SyncFail []Task
	// Objects are the non-hook objects: what the inventory records and drift compares.
	Objects []Task
}

// NewPlan orders objs. A hook annotation or sync wave that does not parse is an error naming the
// object. Objects annotated hook: Skip are left out.
func NewPlan(objs []*unstructured.Unstructured) (Plan, error) {
	var tasks []Task
	seen := map[string]bool{}
	for _, o := range objs {
		t, skip, err := newTask(o)
		if err != nil {
			return Plan{}, err
		}
		if skip {
			continue
		}
		if !t.Hook || o.GetName() != "" {
			key := t.Phase + "/" + t.ID.String()
			if seen[key] {
				return Plan{}, fmt.Errorf("%s is in Git twice", describe(t.ID))
			}
			seen[key] = true
		}
		tasks = append(tasks, t)
	}
	slices.SortStableFunc(tasks, compareTasks)
	var p Plan
	for _, t := range tasks {
		switch {
		case t.Phase == PhaseSyncFail:
			p.SyncFail = append(p.SyncFail, t)
			continue
		case !t.Hook:
			p.Objects = append(p.Objects, t)
		}
		if n := len(p.Waves); n > 0 && p.Waves[n-1].Phase == t.Phase && p.Waves[n-1].Wave == t.Wave {
			p.Waves[n-1].Tasks = append(p.Waves[n-1].Tasks, t)
			continue
		}
		p.Waves = append(p.Waves, Wave{Phase: t.Phase, Wave: t.Wave, Tasks: []Task{t}})
	}
	return p, nil
}

// newTask reads an object's hook and wave annotations.
func newTask(o *unstructured.Unstructured) (Task, bool, error) {
	t := Task{Obj: o, ID: inventory.Of(o), Phase: PhaseSync}
	ann := o.GetAnnotations()
	if s, ok := ann[v1alpha1.AnnotationSyncWave]; ok {
		w, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return t, false, fmt.Errorf("%s: annotation %s=%q is not an integer", describe(t.ID), v1alpha1.AnnotationSyncWave, s)
		}
		t.Wave = w
	}
	hook, ok := ann[v1alpha1.AnnotationHook]
	if !ok {
		if o.GetName() == "" {
			return t, false, fmt.Errorf("%s: generateName is only allowed on hooks", describe(t.ID))
		}
		return t, false, nil
	}
	for _, h := range strings.Split(hook, ",") {
		switch h = strings.TrimSpace(h); h {
		case v1alpha1.HookSkip:
			return t, true, nil
		case PhasePreSync, PhaseSync, PhasePostSync, PhaseSyncFail:
			t.Phase = h
		default:
			return t, false, fmt.Errorf("%s: annotation %s=%q: want PreSync, Sync, PostSync, SyncFail or Skip", describe(t.ID), v1alpha1.AnnotationHook, hook)
		}
	}
	t.Hook = true
	policies := ann[v1alpha1.AnnotationHookDeletePolicy]
	if strings.TrimSpace(policies) == "" {
		policies = v1alpha1.HookDeleteBeforeHookCreated
	}
	for _, p := range strings.Split(policies, ",") {
		switch p = strings.TrimSpace(p); p {
		case v1alpha1.HookDeleteHookSucceeded, v1alpha1.HookDeleteHookFailed, v1alpha1.HookDeleteBeforeHookCreated:
			t.DeletePolicies = append(t.DeletePolicies, p)
		default:
			return t, false, fmt.Errorf("%s: annotation %s=%q: want HookSucceeded, HookFailed or BeforeHookCreation", describe(t.ID), v1alpha1.AnnotationHookDeletePolicy, policies)
		}
	}
	return t, false, nil
}

var phaseOrder = map[string]int{PhasePreSync: 0, PhaseSync: 1, PhasePostSync: 2, PhaseSyncFail: 3}

// kindOrder is the order Argo CD applies kinds in within one wave (the one Helm installs in);
// kinds it does not name, custom resources among them, come after all of them.
var kindOrder = func() map[string]int {
	kinds := []string{
		"Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
		"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
		"PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
		"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList",
		"RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController",
		"ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
		"IngressClass", "Ingress", "APIService",
	}
	m := make(map[string]int, len(kinds))
	for i, k := range kinds {
		m[k] = i
	}
	return m
}()

// KindRank is a kind's place in kindOrder; unknown kinds rank last.
func KindRank(kind string) int {
	if r, ok := kindOrder[kind]; ok {
		return r
	}
	return len(kindOrder)
}

func compareTasks(a, b Task) int {
	return cmp.Or(
		cmp.Compare(phaseOrder[a.Phase], phaseOrder[b.Phase]),
		cmp.Compare(a.Wave, b.Wave),
		cmp.Compare(KindRank(a.ID.Kind), KindRank(b.ID.Kind)),
		strings.Compare(a.ID.Kind, b.ID.Kind),
		strings.Compare(a.ID.Namespace, b.ID.Namespace),
		strings.Compare(a.ID.Name, b.ID.Name),
	)
}

// describe names an object for messages: "Deployment shop/web".
func describe(id inventory.ID) string {
	name := id.Name
	if id.Namespace != "" {
		name = id.Namespace + "/" + name
	}
	return id.Kind + " " + name
}

// Describe names an object for messages and events: "Deployment shop/web".
func Describe(id inventory.ID) string { return describe(id) }
