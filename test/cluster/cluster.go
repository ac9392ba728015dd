// Package cluster runs a real local Kubernetes control plane for tests, the demo and benchmarks:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake nodes whose pods turn
// Running and Ready at once). The binaries come from `make tools` (test/cluster/tools/build.sh).
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configure Start.
type Options struct {
	// Dir holds data, logs, keys and the kubeconfig. Required.
	Dir string
	// ToolsDir holds the binaries; ToolsDir() when empty.
	ToolsDir string
	// RepoRoot is this repository's root, for config/crd; found from the working directory when empty.
	RepoRoot string
	// Detached starts the components in their own sessions so they outlive this process
	// (make cluster-up). Attached components die with this process.
	Detached bool
	// Nodes is the number of kwok nodes to create; 1 when zero.
	Nodes int
	// StartTimeout bounds the whole start; 2 minutes when zero.
	StartTimeout time.Duration
}

// Cluster is a running local control plane.
type Cluster struct {
	// Config reaches the API server as a cluster admin.
	Config *rest.Config
	// Dir is the data directory; Kubeconfig the admin kubeconfig inside it.
	Dir        string
	Kubeconfig string

	procs []*process
}

const pidFileName = "pids"

// ToolsDir is where `make tools` puts the binaries: $SLUICE_TOOLS_DIR, else
// <user cache dir>/sluice/tools/current.
func ToolsDir() string {
	if d := os.Getenv("SLUICE_TOOLS_DIR"); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = filepath.Join(os.TempDir(), "sluice-cache")
	}
	return filepath.Join(cache, "sluice", "tools", "current")
}

// Start brings up the control plane, installs the CRDs and creates the kwok nodes. On error every
// component it started is stopped again.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Dir == "" {
		return nil, errors.New("start cluster: Options.Dir is required")
	}
	if opts.ToolsDir == "" {
		opts.ToolsDir = ToolsDir()
	}
	if opts.RepoRoot == "" {
		if opts.RepoRoot, err = RepoRoot(); err != nil {
			return nil, err
		}
	}
	if opts.Nodes == 0 {
		opts.Nodes = 1
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	if err := checkTools(opts.ToolsDir); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolve cluster dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cluster dir: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	c = &Cluster{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	defer func() {
		if err != nil {
			c.Stop()
			c = nil
		}
	}()

	keys, err := newPKI(dir)
	if err != nil {
		return c, err
	}
	ports, err := freePorts(4)
	if err != nil {
		return c, err
	}
	etcdPort, peerPort, apiPort, kwokPort := ports[0], ports[1], ports[2], ports[3]

	if err := c.startEtcd(ctx, opts, etcdPort, peerPort); err != nil {
		return c, err
	}
	if err := c.startAPIServer(ctx, opts, keys, etcdPort, apiPort); err != nil {
		return c, err
	}
	if err := c.startControllers(opts, keys, kwokPort); err != nil {
		return c, err
	}
	if err := c.writePIDs(); err != nil {
		return c, err
	}
	if err := installCRDs(ctx, c.Config, opts.RepoRoot); err != nil {
		return c, err
	}
	if err := createNodes(ctx, c.Config, opts.Nodes); err != nil {
		return c, c.explain(err)
	}
	if err := waitDefaultServiceAccount(ctx, c.Config); err != nil {
		return c, c.explain(err)
	}
	return c, nil
}

func checkTools(dir string) error {
	var missing []string
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "stages.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("control plane binaries missing in %s (%s): run `make tools` first", dir, strings.Join(missing, ", "))
	}
	return nil
}

func (c *Cluster) startEtcd(ctx context.Context, opts Options, port, peerPort int) error {
	client := fmt.Sprintf("http://127.0.0.1:%d", port)
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	p, err := startProcess("etcd", filepath.Join(opts.ToolsDir, "etcd"), c.Dir, opts.Detached,
		"--name=default",
		"--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=default="+peer,
		"--unsafe-no-fsync=true",
		"--quota-backend-bytes=8589934592",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return waitHTTP(ctx, p, client+"/health", `"health":"true"`, nil, nil)
}

func (c *Cluster) startAPIServer(ctx context.Context, opts Options, keys *pki, etcdPort, port int) error {
	p, err := startProcess("kube-apiserver", filepath.Join(opts.ToolsDir, "kube-apiserver"), c.Dir, opts.Detached,
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdPort),
		"--secure-port="+strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The loopback address cannot be published as the kubernetes Service endpoint.
		"--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(c.Dir, "apiserver-certs"),
		"--tls-cert-file="+keys.servingCert,
		"--tls-private-key-file="+keys.servingKey,
		"--client-ca-file="+keys.caCertPath,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+keys.saPublicKey,
		"--service-account-signing-key-file="+keys.saPrivateKey,
		"--token-auth-file="+keys.tokensPath,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--disable-admission-plugins=TaintNodesByCondition",
		// As in most production clusters: setting blockOwnerDeletion needs update on the owner's
		// finalizers subresource, so a */finalizers verb missing from the shipped RBAC fails a test.
		"--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--max-requests-inflight=2000",
		"--max-mutating-requests-inflight=1000",
	)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)

	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(keys.caCertPEM)
	header := http.Header{"Authorization": []string{"Bearer " + keys.adminToken}}
	if err := waitHTTP(ctx, p, url+"/readyz", "ok", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, header); err != nil {
		return err
	}
	c.Config = &rest.Config{
		Host:            url,
		BearerToken:     keys.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: keys.caCertPEM},
		QPS:             1000,
		Burst:           2000,
	}
	return writeKubeconfig(c.Kubeconfig, url, keys)
}

func (c *Cluster) startControllers(opts Options, keys *pki, kwokPort int) error {
	components := []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{
			"--kubeconfig=" + c.Kubeconfig,
			"--leader-elect=false",
			"--secure-port=0",
			"--service-account-private-key-file=" + keys.saPrivateKey,
			"--root-ca-file=" + keys.caCertPath,
			"--controllers=*,-nodeipam,-nodelifecycle,-ttl,-bootstrapsigner,-tokencleaner",
			"--kube-api-qps=1000", "--kube-api-burst=2000",
			"--concurrent-replicaset-syncs=20",
			"--concurrent-deployment-syncs=20",
		}},
		{"kube-scheduler", []string{
			"--kubeconfig=" + c.Kubeconfig,
			"--leader-elect=false",
			"--secure-port=0",
			"--kube-api-qps=1000", "--kube-api-burst=2000",
		}},
		{"kwok", []string{
			"--kubeconfig=" + c.Kubeconfig,
			"--config=" + filepath.Join(opts.ToolsDir, "stages.yaml"),
			"--manage-all-nodes=false",
			"--manage-nodes-with-label-selector=type=kwok",
			"--server-address=127.0.0.1:" + strconv.Itoa(kwokPort),
			"--cidr=10.244.0.0/16",
		}},
	}
	for _, comp := range components {
		p, err := startProcess(comp.name, filepath.Join(opts.ToolsDir, comp.name), c.Dir, opts.Detached, comp.args...)
		if err != nil {
			return err
		}
		c.procs = append(c.procs, p)
	}
	return nil
}

// explain adds the log tail of any component that has exited to err.
func (c *Cluster) explain(err error) error {
	for _, p := range c.procs {
		if p.exited() {
			return p.failure(err)
		}
	}
	return err
}

// Stop ends every component this Cluster started, in reverse order, and waits for them.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(10 * time.Second)
	}
	c.procs = nil
	_ = os.Remove(filepath.Join(c.Dir, pidFileName))
}

func (c *Cluster) writePIDs() error {
	var b strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&b, "%s %d\n", p.name, p.cmd.Process.Pid)
	}
	return os.WriteFile(filepath.Join(c.Dir, pidFileName), []byte(b.String()), 0o644)
}

func writeKubeconfig(path, server string, keys *pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sluice"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: keys.caCertPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: keys.adminToken}
	cfg.Contexts["sluice"] = &clientcmdapi.Context{Cluster: "sluice", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "sluice"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// RepoRoot walks up from the working directory to the directory holding this module's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/sluice-dev/sluice\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod of github.com/sluice-dev/sluice above the working directory")
		}
		dir = parent
	}
}
