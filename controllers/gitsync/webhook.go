package gitsync

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/webhook"
)

// WebhookReceiver answers Git push webhooks: a push triggers, at once, every GitSync that follows
// the pushed repository and branch; their next reconcile fetches instead of waiting for the
// interval. The receiver itself never fetches. The secrets are read from the Secret secret on
// every request, so a rotated secret applies without a restart; a missing Secret refuses every
// push (401).
func (r *Reconciler) WebhookReceiver(secret types.NamespacedName) *webhook.Receiver {
	return &webhook.Receiver{
		Secrets: func(ctx context.Context) (webhook.Secrets, error) {
			if secret.Name == "" {
				return webhook.Secrets{}, nil
			}
			sec := &corev1.Secret{}
			if err := r.APIReader.Get(ctx, secret, sec); err != nil {
				if apierrors.IsNotFound(err) {
					return webhook.Secrets{}, nil
				}
				return webhook.Secrets{}, fmt.Errorf("read the webhook Secret %s: %w", secret, err)
			}
			return webhook.SecretsFromData(sec.Data), nil
		},
		Trigger: r.triggerPush,
		Metrics: webhook.NewMetrics(ctrlmetrics.Registry),
	}
}

// triggerPush queues, with a fetch, every GitSync that follows the pushed repository and branch.
func (r *Reconciler) triggerPush(ctx context.Context, ev webhook.Event) (int, error) {
	list := &v1alpha1.GitSyncList{}
	if err := r.Client.List(ctx, list); err != nil {
		return 0, fmt.Errorf("list the GitSyncs a push may trigger: %w", err)
	}
	n := 0
	for i := range list.Items {
		gs := &list.Items[i]
		if gs.Spec.Suspend || !webhook.Matches(gs.Spec.Source.RepoURL, gs.Spec.Source.TargetRevision, ev) {
			continue
		}
		key := types.NamespacedName{Namespace: gs.Namespace, Name: gs.Name}
		log.FromContext(ctx).Info("Push triggers a sync", "gitsync", key.String())
		r.trigger(key, true)
		n++
	}
	return n, nil
}
