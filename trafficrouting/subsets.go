package trafficrouting

import "context"

// SubsetUpdater is implemented by routers that select pods by pod-template hash in an object of
// their own (Istio subset-level routing: the DestinationRule's canary and stable subsets).
//
// The rollout controller calls UpdateSubsets only once the ReplicaSet behind a hash is available,
// and before it sends traffic to that subset: a subset whose pods are not ready would black-hole
// its share. An empty hash removes the hash label from that subset. Like every router method it is
// idempotent and writes nothing when the subsets already hold the hashes.
type SubsetUpdater interface {
	UpdateSubsets(ctx context.Context, canaryHash, stableHash string) error
}
