package gitsync

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/apply"
	"github.com/sluice-dev/sluice/sync/inventory"
	"github.com/sluice-dev/sluice/sync/render"
	"github.com/sluice-dev/sluice/sync/source"
)

// desiredState is what Git says, compared with what the cluster has.
type desiredState struct {
	plan  apply.Plan
	live  map[inventory.ID]*unstructured.Unstructured
	stale []inventory.Entry // in the inventory, gone from Git, still in the cluster with our labels
	// outOfSync are the objects of plan.Objects that differ from Git, with the fields that differ.
	outOfSync map[inventory.ID][]string
	// shared are objects that carry another GitSync's ownership labels.
	shared map[inventory.ID]string
	// cmp compares and prepares applies, leaving other controllers' fields alone.
	cmp *apply.Comparer
}

// sync runs the ordered phases of one reconcile: fetch → render → compare → (operation: hooks,
// waves, prune) → health. A phase that fails stops the ones after it; nothing is applied or
// pruned after a failed fetch or render.
func (s *run) sync(ctx context.Context) (ctrl.Result, error) {
	key := types.NamespacedName{Namespace: s.gs.Namespace, Name: s.gs.Name}
	checkout, err := s.fetch(ctx)
	if err != nil {
		n := s.r.bumpFetchFailures(key)
		s.failed(v1alpha1.ReasonFetchFailed, err.Error(), false)
		return ctrl.Result{RequeueAfter: min(s.gs.Spec.GetInterval(), backoff(n))}, nil
	}
	s.r.fetchFailures.Delete(key)
	if err := s.recordRevision(ctx, checkout); err != nil {
		return ctrl.Result{}, err
	}
	objs, err := render.Render(ctx, checkout.Dir, render.Options{
		Path: s.gs.Spec.Source.Path, Type: s.gs.Spec.Render.Type, Recurse: s.gs.Spec.GetRecurse(),
	})
	if err != nil {
		s.failed(v1alpha1.ReasonRenderFailed, fmt.Sprintf("render %s at %s: %v", pathOrRoot(s.gs.Spec.Source.Path), short(checkout.Commit), err), true)
		return ctrl.Result{RequeueAfter: s.gs.Spec.GetInterval()}, nil
	}
	if len(objs) == 0 && (s.gs.Spec.Automated() == nil || !s.gs.Spec.Automated().AllowEmpty) {
		s.failed(v1alpha1.ReasonEmptyRender, fmt.Sprintf("%s at %s renders no objects; nothing is applied or pruned (set syncPolicy.automated.allowEmpty to let an empty path prune everything)", pathOrRoot(s.gs.Spec.Source.Path), short(checkout.Commit)), true)
		return ctrl.Result{RequeueAfter: s.gs.Spec.GetInterval()}, nil
	}
	applier, err := s.r.Clients.For(s.gs.Namespace, s.serviceAccount())
	if err != nil {
		return ctrl.Result{}, err
	}
	ds, reason, err := s.compare(ctx, applier, objs)
	if err != nil {
		s.failed(reason, err.Error(), reason == v1alpha1.ReasonRenderFailed || reason == v1alpha1.ReasonInvalidSpec)
		return ctrl.Result{RequeueAfter: min(s.gs.Spec.GetInterval(), 30*time.Second)}, nil
	}
	requeue := s.gs.Spec.GetInterval()
	if start, retryIn := s.operationDue(ds, checkout.Commit); start || s.operationRunning(checkout.Commit) {
		// While an operation runs, self-heal stands aside: the objects it would put back are the
		// ones the operation is changing.
		s.r.dropSynced(key)
		op := &operation{run: s, applier: applier, ds: ds, revision: checkout.Commit}
		if start {
			if prev := s.gs.Status.OperationState; s.syncRequested() || s.specChanged() ||
				prev == nil || prev.Revision != checkout.Commit {
				// A person asked for this sync, changed the spec or pushed a new revision: what
				// self-heal was backing off from is applied again, and the back-off starts over.
				s.r.heal.forget(key)
			}
			op.start()
		}
		if wait := op.execute(ctx); wait > 0 {
			requeue = wait
		}
		if st := s.gs.Status.OperationState; st.Phase == v1alpha1.OperationFailed {
			if limit := s.gs.Spec.RetryLimit(); limit < 0 || st.RetryCount < limit {
				if wait, err := s.gs.Spec.RetryBackoff(st.RetryCount + 1); err == nil {
					requeue = min(requeue, wait)
				}
			}
		}
		if op.succeeded() {
			// ds already holds what the operation applied and pruned: no second read.
			s.keepSynced(ds, checkout.Commit)
		}
	} else if retryIn > 0 {
		requeue = min(requeue, retryIn)
	} else if op := s.gs.Status.OperationState; op != nil && op.Phase == v1alpha1.OperationSucceeded && op.Revision == checkout.Commit {
		s.keepSynced(ds, checkout.Commit)
	}
	if op := s.gs.Status.OperationState; op != nil && op.Phase == v1alpha1.OperationFailed && op.Revision == checkout.Commit {
		// The SyncFail hooks of a failed operation run on after it, also while its retry waits:
		// record how they end.
		failed := &operation{run: s, applier: applier, ds: ds, revision: op.Revision}
		if failed.followSyncFail(ctx) {
			requeue = min(requeue, syncFailFollow)
		}
	}
	s.report(ds)
	if auto := s.gs.Spec.Automated(); auto != nil && auto.SelfHeal && len(ds.outOfSync) > 0 {
		// Reported drifted while self-heal puts the objects back: when the watch sees one back in
		// line it wakes this GitSync (mark), and a look again soon covers a revert that landed
		// before the mark.
		fights := s.r.heal.fights(key, s.now)
		for id := range ds.outOfSync {
			if _, fighting := fights[id]; !fighting {
				s.r.heal.mark(driftItem{owner: key, id: id})
				requeue = min(requeue, healthRecheck)
			}
		}
	}
	for _, h := range s.r.heal.fights(key, s.now) {
		// Look again when the back-off can end, to clear its condition.
		requeue = min(requeue, h.until.Add(healFightWindow).Sub(s.now)+time.Second)
	}
	if h := s.gs.Status.Health; h != nil && h.Status == v1alpha1.HealthProgressing {
		// Health comes from the objects' own status; look again soon so it does not wait an interval.
		requeue = min(requeue, healthRecheck)
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// fetched is a GitSync's last successful fetch.
type fetched struct {
	checkout   source.Checkout
	at         time.Time
	generation int64
	request    string
}

// fetch reads the credentials and fetches the target revision. Between intervals the last
// checkout is reused (a wave waiting for health looks again every second; it must not fetch
// every second), unless the spec changed or a sync was requested.
func (s *run) fetch(ctx context.Context) (source.Checkout, error) {
	key := s.key()
	request := s.gs.Annotations[v1alpha1.AnnotationSyncRequested]
	if _, pushed := s.r.forceFetch.LoadAndDelete(key); pushed {
		s.r.lastFetch.Delete(key) // a webhook push: fetch now
	}
	if v, ok := s.r.lastFetch.Load(key); ok {
		f := v.(fetched)
		if f.generation == s.gs.Generation && f.request == request && s.now.Sub(f.at) < s.gs.Spec.GetInterval() {
			return f.checkout, nil
		}
	}
	c, err := s.fetchNow(ctx)
	if err != nil {
		s.r.lastFetch.Delete(key)
		return c, err
	}
	s.r.lastFetch.Store(key, fetched{checkout: c, at: s.now, generation: s.gs.Generation, request: request})
	return c, nil
}

func (s *run) fetchNow(ctx context.Context) (source.Checkout, error) {
	creds, err := s.credentials(ctx)
	if err != nil {
		return source.Checkout{}, err
	}
	return s.r.Fetcher.Fetch(ctx, source.Request{
		Key:         cacheKey(types.NamespacedName{Namespace: s.gs.Namespace, Name: s.gs.Name}),
		RepoURL:     s.gs.Spec.Source.RepoURL,
		Revision:    s.gs.Spec.Source.TargetRevision,
		Credentials: creds,
	})
}

// recordRevision puts a newly resolved commit into status before anything is applied.
func (s *run) recordRevision(ctx context.Context, c source.Checkout) error {
	st := &s.gs.Status
	if st.Sync != nil && st.Sync.Revision == c.Commit {
		return nil
	}
	st.Sync = &v1alpha1.SyncStatus{Status: v1alpha1.SyncStatusUnknown, Revision: c.Commit, ShortRevision: short(c.Commit), CommitMessage: c.Message}
	s.log.Info("Resolved revision", "revision", c.Commit, "targetRevision", s.gs.Spec.Source.TargetRevision)
	return s.patchStatus(ctx)
}

// serviceAccount is the identity the GitSync applies as; empty is the controller's own.
func (s *run) serviceAccount() string {
	if s.gs.Spec.ServiceAccountName != "" {
		return s.gs.Spec.ServiceAccountName
	}
	return s.r.DefaultServiceAccount
}

// compare prepares the rendered objects, orders them and reads the live objects they name and the
// ones the inventory names. It returns the condition reason of a failure.
func (s *run) compare(ctx context.Context, a *apply.Applier, rendered []*unstructured.Unstructured) (*desiredState, string, error) {
	objs := make([]*unstructured.Unstructured, len(rendered))
	for i, o := range rendered {
		objs[i] = o.DeepCopy()
	}
	dest := s.gs.Spec.Destination.Namespace
	if dest == "" {
		dest = s.gs.Namespace
	}
	owner := types.NamespacedName{Namespace: s.gs.Namespace, Name: s.gs.Name}
	if err := apply.Prepare(objs, apply.PrepareOptions{Owner: owner, DefaultNamespace: dest, Scope: a.Scope}); err != nil {
		return nil, v1alpha1.ReasonApplyFailed, err
	}
	plan, err := apply.NewPlan(objs)
	if err != nil {
		return nil, v1alpha1.ReasonRenderFailed, err
	}
	old, err := inventory.FromStatus(s.gs.Status.Inventory)
	if err != nil {
		return nil, v1alpha1.ReasonPruneFailed, fmt.Errorf("read the inventory in status: %w", err)
	}
	desiredInv := inventoryOf(plan)
	live, err := observe(ctx, a, plan.Objects, old)
	if err != nil {
		return nil, v1alpha1.ReasonApplyFailed, err
	}
	if err := apply.ValidateIgnore(s.gs.Spec.IgnoreDifferences); err != nil {
		return nil, v1alpha1.ReasonInvalidSpec, err
	}
	cmp := s.r.comparer(ctx, objs, s.gs.Spec.IgnoreDifferences, s.gs.Spec.HasSyncOption("RespectIgnoreDifferences"))
	ds := &desiredState{plan: plan, live: live, cmp: cmp, outOfSync: map[inventory.ID][]string{}, shared: map[inventory.ID]string{}}
	for _, t := range plan.Objects {
		l := live[t.ID]
		if other := otherOwner(l, owner); other != "" {
			ds.shared[t.ID] = other
			continue
		}
		if differs, fields := cmp.Drift(l, t.Obj); differs {
			ds.outOfSync[t.ID] = fields
		}
	}
	for _, e := range inventory.Diff(old, desiredInv) {
		if l := live[e.ID]; l != nil && otherOwner(l, owner) == "" && ownedBy(l, owner) {
			ds.stale = append(ds.stale, e)
		}
	}
	return ds, "", nil
}

func inventoryOf(p apply.Plan) []inventory.Entry {
	out := make([]inventory.Entry, 0, len(p.Objects))
	for _, t := range p.Objects {
		out = append(out, inventory.Entry{ID: t.ID, Version: t.Obj.GroupVersionKind().Version})
	}
	return inventory.Union(nil, out)
}

// observe lists, per kind and namespace, the objects that carry any GitSync's ownership label:
// one request per kind and namespace, whatever the number of objects.
func observe(ctx context.Context, a *apply.Applier, tasks []apply.Task, old []inventory.Entry) (map[inventory.ID]*unstructured.Unstructured, error) {
	type scope struct {
		gvk schema.GroupVersionKind
		ns  string
	}
	want := map[scope]bool{}
	for _, t := range tasks {
		want[scope{t.Obj.GroupVersionKind(), t.ID.Namespace}] = true
	}
	for _, e := range old {
		want[scope{e.GroupVersionKind(), e.ID.Namespace}] = true
	}
	live := map[inventory.ID]*unstructured.Unstructured{}
	for sc := range want {
		items, err := a.List(ctx, sc.gvk, sc.ns, v1alpha1.LabelGitSyncName)
		if err != nil {
			return nil, fmt.Errorf("read the live objects: %w", err)
		}
		for i := range items {
			o := &items[i]
			if sc.ns != "" && o.GetNamespace() != sc.ns {
				continue
			}
			live[inventory.Of(o)] = o
		}
	}
	return live, nil
}

// keepSynced records what a successful sync applied, for live drift correction, and watches
// its kinds.
func (s *run) keepSynced(ds *desiredState, revision string) {
	set := &syncedSet{
		uid: s.gs.UID, generation: s.gs.Generation, revision: revision, byID: make(map[inventory.ID]*unstructured.Unstructured, len(ds.plan.Objects)),
		ignore: s.gs.Spec.IgnoreDifferences, respectIgnore: s.gs.Spec.HasSyncOption("RespectIgnoreDifferences"),
		serviceAccount: s.serviceAccount(),
	}
	if auto := s.gs.Spec.Automated(); auto != nil {
		set.selfHeal = auto.SelfHeal
	}
	kinds := map[schema.GroupVersionKind]bool{}
	for _, t := range ds.plan.Objects {
		set.objs = append(set.objs, t.Obj)
		set.byID[t.ID] = t.Obj
		kinds[t.Obj.GroupVersionKind()] = true
	}
	s.r.synced.Store(s.key(), set)
	s.r.watch.Track(s.key(), slices.Collect(maps.Keys(kinds)))
	if op := s.gs.Status.OperationState; op != nil {
		s.r.metrics.applied(s.key(), op.Revision)
	}
}

// prunable counts the stale objects a prune would delete (not those kept by Prune=false).
func (ds *desiredState) prunable() int {
	n := 0
	for _, e := range ds.stale {
		if !apply.ObjectOption(ds.live[e.ID], "Prune", "false") {
			n++
		}
	}
	return n
}

// key is the GitSync's namespace and name.
func (s *run) key() types.NamespacedName {
	return types.NamespacedName{Namespace: s.gs.Namespace, Name: s.gs.Name}
}

// otherOwner names the GitSync that owns a live object when it is not owner.
func otherOwner(live *unstructured.Unstructured, owner types.NamespacedName) string {
	if live == nil {
		return ""
	}
	l := live.GetLabels()
	name, ns := l[v1alpha1.LabelGitSyncName], l[v1alpha1.LabelGitSyncNamespace]
	if name == "" || (name == owner.Name && ns == owner.Namespace) {
		return ""
	}
	return ns + "/" + name
}

func ownedBy(live *unstructured.Unstructured, owner types.NamespacedName) bool {
	l := live.GetLabels()
	return l[v1alpha1.LabelGitSyncName] == owner.Name && l[v1alpha1.LabelGitSyncNamespace] == owner.Namespace
}

// operationRunning reports whether an operation on this revision is under way. A spec change
// ends it for an automated GitSync (operationDue starts one under the new spec); a manual one goes
// on, as nothing else would start it again.
func (s *run) operationRunning(revision string) bool {
	op := s.gs.Status.OperationState
	return op != nil && op.Phase == v1alpha1.OperationRunning && op.Revision == revision &&
		(!s.specChanged() || s.gs.Spec.Automated() == nil) && !s.syncRequested()
}

// specChanged reports whether the spec changed since the last operation started: that operation
// ran under another generation (or there was none). It is not read from status.observedGeneration,
// which every reconcile moves on, also one that failed before it could start an operation (a
// fetch or render error): the new spec would then never be applied. An operation state without a
// generation (written before the field existed, or pruned by an older CRD) falls back to
// observedGeneration, so an upgrade does not start an operation (and its hooks) on every GitSync.
func (s *run) specChanged() bool {
	op := s.gs.Status.OperationState
	switch {
	case op == nil:
		return true
	case op.Generation == 0:
		return s.gs.Generation != s.gs.Status.ObservedGeneration
	default:
		return op.Generation != s.gs.Generation
	}
}

// syncRequested reports whether the sync-requested annotation changed since it was acted on.
func (s *run) syncRequested() bool {
	v := s.gs.Annotations[v1alpha1.AnnotationSyncRequested]
	return v != "" && v != s.gs.Status.LastSyncRequested
}

// operationDue decides whether a new sync operation starts now; when a failed one waits for its
// retry, retryIn is the wait.
func (s *run) operationDue(ds *desiredState, revision string) (start bool, retryIn time.Duration) {
	if s.operationRunning(revision) {
		return false, 0
	}
	if s.syncRequested() {
		return true, 0
	}
	auto := s.gs.Spec.Automated()
	if auto == nil {
		return false, 0
	}
	op := s.gs.Status.OperationState
	if op == nil || op.Revision != revision || s.specChanged() {
		return true, 0
	}
	if op.Phase == v1alpha1.OperationFailed {
		if syncFailRunning(op) {
			// The SyncFail hooks of the failed attempt run first (as in Argo CD, where the
			// operation stays Running until they end): a retry would drop their results, and
			// would meet a hook of the same name still there.
			return false, syncFailFollow
		}
		limit := s.gs.Spec.RetryLimit()
		if limit >= 0 && op.RetryCount >= limit {
			return false, 0
		}
		wait, err := s.gs.Spec.RetryBackoff(op.RetryCount + 1)
		if err != nil {
			wait = v1alpha1.DefaultBackoffDuration
		}
		if op.FinishedAt != nil {
			if left := op.FinishedAt.Add(wait).Sub(s.now); left > 0 {
				return false, left
			}
		}
		return true, 0
	}
	// The same revision again: only self-heal re-applies what drifted (leaving alone the objects
	// another writer keeps changing back while it backs off), only prune deletes what left Git.
	drifted := false
	if auto.SelfHeal && len(ds.outOfSync) > 0 {
		fights := s.r.heal.fights(s.key(), s.now)
		kinds := make(map[inventory.ID]schema.GroupVersionKind, len(ds.plan.Objects))
		for _, t := range ds.plan.Objects {
			kinds[t.ID] = t.Obj.GroupVersionKind()
		}
		_, selfHealing := s.r.synced.Load(s.key())
		for id := range ds.outOfSync {
			if _, fighting := fights[id]; fighting {
				continue
			}
			if selfHealing && s.r.watch.Covers(kinds[id]) {
				// The live watch has this object's change (or deletion) and self-heal puts it
				// back on its own; an operation as well would race it.
				continue
			}
			drifted = true
		}
	}
	return drifted || (auto.Prune && ds.prunable() > 0), 0
}

func (r *Reconciler) bumpFetchFailures(key types.NamespacedName) int {
	n := 1
	if v, ok := r.fetchFailures.Load(key); ok {
		n = v.(int) + 1
	}
	r.fetchFailures.Store(key, n)
	return n
}

// backoff is 2s doubling per consecutive failure, up to 5 minutes.
func backoff(n int) time.Duration {
	d := 2 * time.Second
	for i := 1; i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

func pathOrRoot(p string) string {
	if strings.Trim(p, "./") == "" {
		return "the repository root"
	}
	return "path " + p
}

// healthRecheck is how soon a GitSync whose objects are still progressing is looked at again.
const healthRecheck = 2 * time.Second

// syncFailFollow is how often the SyncFail hooks of a failed operation are looked at until they
// end (each look renders and lists).
const syncFailFollow = 2 * time.Second

// syncFailRunning reports whether a SyncFail hook of the operation has not finished yet.
func syncFailRunning(op *v1alpha1.OperationState) bool {
	for _, r := range op.Resources {
		if r.Phase == v1alpha1.HookSyncFail && r.Result == v1alpha1.ResultHookRunning {
			return true
		}
	}
	return false
}
