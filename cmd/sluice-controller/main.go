// Command sluice-controller runs sluice's controllers in one manager.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	rolloutsv1alpha1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/analysisrun"
	"github.com/sluice-dev/sluice/controllers/gitsync"
	"github.com/sluice-dev/sluice/controllers/managercache"
	"github.com/sluice-dev/sluice/controllers/rollout"
	"github.com/sluice-dev/sluice/sync/source"
	"github.com/sluice-dev/sluice/sync/webhook"
)

// Leader election reads, creates and renews (updates) one Lease, and records its transitions as
// core/v1 events on it, all in the controller's own namespace: a Role there, not a ClusterRole, so
// the token cannot take over another namespace's leases. The controllers' own events are
// events.k8s.io (their markers).
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=sluice-system,resources=leases,verbs=get;create;update
// +kubebuilder:rbac:groups="",namespace=sluice-system,resources=events,verbs=create;patch

// --metrics-secure asks the API server who a scraper is (TokenReview) and whether it may get
// /metrics (SubjectAccessReview).
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// options are the command-line flags.
type options struct {
	kubeconfig              string
	leaderElect             bool
	leaderElectionNamespace string
	metricsAddr             string
	metricsSecure           bool
	metricsCertDir          string
	probeAddr               string
	logLevel                string
	logFormat               string
	qps                     float64
	burst                   int
	rolloutWorkers          int
	controllers             string
	gitCacheDir             string
	gitTimeout              time.Duration
	syncConcurrency         int
	gitSyncWorkers          int
	defaultServiceAccount   string
	webhookBindAddress      string
	webhookSecret           string
}

// allControllers are the names --controllers takes.
var allControllers = []string{"rollout", "analysisrun", "gitsync"}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("sluice-controller", flag.ContinueOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "path to a kubeconfig; $KUBECONFIG, else the in-cluster config, when empty")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader so that only one replica reconciles at a time")
	fs.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election lease; the pod's namespace in a cluster, else default")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", "127.0.0.1:8080", "address of the Prometheus metrics endpoint: plain HTTP only on a loopback address, any address with --metrics-secure; 0 turns it off")
	fs.BoolVar(&o.metricsSecure, "metrics-secure", false, "serve metrics over HTTPS, only to callers the API server authenticates and authorizes to get /metrics")
	fs.StringVar(&o.metricsCertDir, "metrics-cert-dir", "", "directory holding tls.crt and tls.key for --metrics-secure (reloaded when they change); empty: a self-signed certificate")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info or error, or a number (higher is more verbose)")
	fs.StringVar(&o.logFormat, "log-format", "json", "log format: json or text")
	fs.Float64Var(&o.qps, "kube-api-qps", 100, "requests per second the controller may send to the API server")
	fs.IntVar(&o.burst, "kube-api-burst", 200, "requests the controller may send at once above --kube-api-qps")
	fs.IntVar(&o.rolloutWorkers, "rollout-workers", 10, "Rollouts reconciled in parallel")
	fs.StringVar(&o.controllers, "controllers", strings.Join(allControllers, ","), "comma-separated controllers to run: rollout, analysisrun, gitsync")
	fs.StringVar(&o.gitCacheDir, "git-cache-dir", filepath.Join(os.TempDir(), "sluice-git"), "directory of the GitSyncs' repository caches")
	fs.DurationVar(&o.gitTimeout, "git-timeout", 60*time.Second, "time limit of one Git fetch")
	fs.IntVar(&o.syncConcurrency, "sync-concurrency", 8, "objects of one sync wave applied at once")
	fs.IntVar(&o.gitSyncWorkers, "gitsync-workers", 4, "GitSyncs reconciled in parallel")
	fs.StringVar(&o.webhookBindAddress, "webhook-bind-address", "", "address of the Git webhook receiver (GitHub, GitLab, Gitea, Bitbucket Cloud, generic); empty: off")
	fs.StringVar(&o.webhookSecret, "webhook-secret", "", "NAMESPACE/NAME of the Secret holding the webhook secrets (keys github, gitlab, gitea, bitbucket, generic)")
	fs.StringVar(&o.defaultServiceAccount, "default-service-account", "", "ServiceAccount (in the GitSync's namespace) that GitSyncs naming none apply as; empty: the controller's own identity")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if _, err := o.enabled(); err != nil {
		return o, err
	}
	if err := o.checkMetrics(); err != nil {
		return o, err
	}
	return o, nil
}

// checkMetrics refuses plain HTTP metrics beyond loopback: anyone who reaches the port would read
// them. In a cluster the metrics are served with --metrics-secure.
func (o options) checkMetrics() error {
	if o.metricsAddr == "0" || o.metricsSecure {
		return nil
	}
	host, _, err := net.SplitHostPort(o.metricsAddr)
	if err != nil {
		return fmt.Errorf("--metrics-bind-address %q: %w", o.metricsAddr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--metrics-bind-address %q: plain HTTP is served on a loopback address only; pass --metrics-secure to serve it authenticated over HTTPS", o.metricsAddr)
	}
	return nil
}

// metricsOptions serves the metrics as the flags say: plain HTTP (on loopback), or HTTPS behind
// the API server's authentication and authorization. HTTP/2 is off: its stream handling has been
// a denial-of-service vector (CVE-2023-44487) and a scraper does not need it.
func metricsOptions(o options) metricsserver.Options {
	if !o.metricsSecure {
		return metricsserver.Options{BindAddress: o.metricsAddr}
	}
	return metricsserver.Options{
		BindAddress:    o.metricsAddr,
		SecureServing:  true,
		FilterProvider: filters.WithAuthenticationAndAuthorization,
		CertDir:        o.metricsCertDir,
		TLSOpts:        []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
}

// enabled is the set of controllers --controllers names.
func (o options) enabled() (map[string]bool, error) {
	out := map[string]bool{}
	for _, name := range strings.Split(o.controllers, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(allControllers, name) {
			return nil, fmt.Errorf("--controllers: unknown controller %q (want some of %s)", name, strings.Join(allControllers, ", "))
		}
		out[name] = true
	}
	if len(out) == 0 {
		return nil, errors.New("--controllers names no controller")
	}
	return out, nil
}

// newLogger builds the zap-backed logr logger the flags ask for.
func newLogger(o options) (zap.Opts, error) {
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		var n int
		if _, scanErr := fmt.Sscanf(o.logLevel, "%d", &n); scanErr != nil || n < 0 {
			return nil, fmt.Errorf("--log-level %q: want debug, info, error or a number >= 0", o.logLevel)
		}
		level = zapcore.Level(-n)
	}
	var dev bool
	switch o.logFormat {
	case "json":
	case "text":
		dev = true
	default:
		return nil, fmt.Errorf("--log-format %q: want json or text", o.logFormat)
	}
	return func(zo *zap.Options) {
		zo.Development = dev
		zo.Level = level
		if dev {
			zo.StacktraceLevel = zapcore.PanicLevel
		}
	}, nil
}

func restConfig(o options) (*rest.Config, error) {
	path := o.kubeconfig
	if path == "" {
		path = os.Getenv("KUBECONFIG")
	}
	if path == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("load in-cluster config (pass --kubeconfig to run outside a cluster): %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// newScheme registers every kind the controllers read or write.
func newScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		gatewayv1.Install,
		istionetworkingv1.AddToScheme,
		rolloutsv1alpha1.AddToScheme,
		sluicev1alpha1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	return scheme, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	logOpts, err := newLogger(o)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(logOpts))
	log := ctrl.Log.WithName("setup")

	cfg, err := restConfig(o)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(o.qps), o.burst
	countRequests(cfg)
	scheme, err := newScheme()
	if err != nil {
		return err
	}
	leNamespace := o.leaderElectionNamespace
	if leNamespace == "" && o.leaderElect {
		if _, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); errors.Is(err, os.ErrNotExist) {
			leNamespace = "default"
		}
	}
	cacheOpts, err := managercache.Options()
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "sluice-controller.sluice.dev",
		LeaderElectionNamespace: leNamespace,
		// Step down at once on SIGTERM so a new leader takes over without waiting for the lease.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := setupControllers(mgr, cfg, o); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}

	log.Info("Starting manager", "host", cfg.Host, "leaderElect", o.leaderElect,
		"metrics", o.metricsAddr, "metricsSecure", o.metricsSecure, "probes", o.probeAddr)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	log.Info("Manager stopped")
	return nil
}

// setupControllers registers every controller with the manager.
func setupControllers(mgr ctrl.Manager, cfg *rest.Config, o options) error {
	enabled, err := o.enabled()
	if err != nil {
		return err
	}
	if enabled["rollout"] {
		if err := setupRollout(mgr, o); err != nil {
			return err
		}
	}
	if enabled["analysisrun"] {
		if err := analysisrun.NewReconciler(mgr).SetupWithManager(mgr); err != nil {
			return fmt.Errorf("set up analysis run controller: %w", err)
		}
	}
	if enabled["gitsync"] {
		clients, err := gitsync.NewClients(cfg, o.syncConcurrency)
		if err != nil {
			return fmt.Errorf("set up gitsync controller: %w", err)
		}
		gs := &gitsync.Reconciler{
			Client:                mgr.GetClient(),
			APIReader:             mgr.GetAPIReader(),
			Recorder:              mgr.GetEventRecorder(gitsync.EventReporter),
			Fetcher:               &source.Fetcher{CacheDir: o.gitCacheDir, Timeout: o.gitTimeout},
			Clients:               clients,
			DefaultServiceAccount: o.defaultServiceAccount,
			Workers:               o.gitSyncWorkers,
		}
		if err := gs.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("set up gitsync controller: %w", err)
		}
		if err := setupWebhook(mgr, gs, o); err != nil {
			return err
		}
	}
	return nil
}

// setupWebhook serves the Git webhook receiver on its own port when --webhook-bind-address is set.
// It runs on the leader only: a push wakes GitSyncs in the leader's queue.
func setupWebhook(mgr ctrl.Manager, gs *gitsync.Reconciler, o options) error {
	if o.webhookBindAddress == "" {
		return nil
	}
	var secret types.NamespacedName
	if o.webhookSecret != "" {
		ns, name, ok := strings.Cut(o.webhookSecret, "/")
		if !ok || ns == "" || name == "" {
			return fmt.Errorf("--webhook-secret %q: want NAMESPACE/NAME", o.webhookSecret)
		}
		secret = types.NamespacedName{Namespace: ns, Name: name}
	}
	srv := &webhook.Server{Addr: o.webhookBindAddress, Handler: gs.WebhookReceiver(secret), NeedLeader: true}
	if err := mgr.Add(srv); err != nil {
		return fmt.Errorf("set up the webhook receiver: %w", err)
	}
	return nil
}

func setupRollout(mgr ctrl.Manager, o options) error {
	ro := &rollout.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder(rollout.FieldManager),
		Workers:   o.rolloutWorkers,
		Runs:      rollout.NewRunBuilder(mgr.GetClient()),
	}
	if err := ro.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up rollout controller: %w", err)
	}
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "sluice-controller:", err)
		os.Exit(1)
	}
}
