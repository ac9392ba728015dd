package gitsync

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/sluice-dev/sluice/sync/apply"
)

// Clients builds one Applier per identity: the controller's own, or an impersonated
// ServiceAccount (spec.serviceAccountName, or --default-service-account). The REST mapping is
// shared: discovery is the same for every identity.
type Clients struct {
	config      *rest.Config
	mapper      *restmapper.DeferredDiscoveryRESTMapper
	concurrency int

	mu       sync.Mutex
	appliers map[string]*apply.Applier
}

// NewClients prepares appliers on top of the controller's config; concurrency bounds the writes
// of one wave.
func NewClients(cfg *rest.Config, concurrency int) (*Clients, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create discovery client: %w", err)
	}
	return &Clients{
		config:      rest.CopyConfig(cfg),
		mapper:      restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		concurrency: concurrency,
		appliers:    map[string]*apply.Applier{},
	}, nil
}

// For returns the applier of a ServiceAccount in a namespace; an empty name is the controller.
func (c *Clients) For(namespace, serviceAccount string) (*apply.Applier, error) {
	key := ""
	if serviceAccount != "" {
		key = "system:serviceaccount:" + namespace + ":" + serviceAccount
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.appliers[key]; ok {
		return a, nil
	}
	cfg := rest.CopyConfig(c.config)
	if key != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: key}
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create client for %q: %w", key, err)
	}
	a := &apply.Applier{Client: dyn, Mapper: c.mapper, Concurrency: c.concurrency}
	c.appliers[key] = a
	return a, nil
}

// Own returns the controller's own dynamic client and the shared REST mapping, for the live
// watches of managed objects.
func (c *Clients) Own() (dynamic.Interface, meta.RESTMapper) {
	a, err := c.For("", "")
	if err != nil {
		return nil, c.mapper
	}
	return a.Client, c.mapper
}
