# sluice — make help lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

# Pinned tools, run through the Go module proxy.
CONTROLLER_GEN ?= go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
STATICCHECK    ?= go run honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The control plane binaries live outside the work tree so that every clone reuses one build.
TOOLS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sluice/tools
export SLUICE_TOOLS_DIR ?= $(TOOLS_CACHE)/current
export KUBEBUILDER_ASSETS ?= $(SLUICE_TOOLS_DIR)
KUBECTL ?= $(SLUICE_TOOLS_DIR)/kubectl

CLUSTER_DIR ?= .cluster
GO_TEST_FLAGS ?= -count=1
UNIT_PKGS = $$(go list ./... | grep -v -e /test/e2e -e /test/bench)

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

##@ Tools
.PHONY: tools
tools: ## Build the local control plane binaries (first run ~10 min, then cached) and install Prometheus.
	test/cluster/tools/build.sh $(TOOLS_CACHE)
	@if [ ! -x /usr/bin/prometheus ]; then \
		echo "installing Debian's prometheus package"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; \
	fi

##@ Code generation
.PHONY: generate
generate: ## Generate deepcopy code for the API types.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: ## Generate CRDs (config/crd/bases, pod templates loosened as Argo Rollouts' are) and RBAC (config/rbac) from the markers.
	$(CONTROLLER_GEN) crd:maxDescLen=0,generateEmbeddedObjectMeta=true paths=./api/... output:crd:artifacts:config=config/crd/bases
	go run ./hack/crdpatch config/crd/bases/argoproj.io_*.yaml
	$(CONTROLLER_GEN) rbac:roleName=sluice-controller paths=./... output:rbac:artifacts:config=config/rbac

.PHONY: verify
verify: generate manifests ## Fail if regenerating or formatting would change the tree.
	@if [ -n "$$(git status --porcelain -- api config)" ] || [ -n "$$(gofmt -l $$(git ls-files '*.go'))" ]; then \
		echo "generated files or formatting are stale; run 'make generate manifests fmt' and commit:"; \
		git status --porcelain -- api config; gofmt -l $$(git ls-files '*.go'); exit 1; \
	fi

##@ Quality
.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: lint
lint: vet ## go vet and staticcheck.
	$(STATICCHECK) ./...

.PHONY: build
build: ## Build the controller and the kubectl plugin into bin/.
	go build -o bin/sluice-controller ./cmd/sluice-controller
	go build -ldflags "-X github.com/sluice-dev/sluice/cmd/kubectl-sluice/cli.Version=$$(git describe --tags --always --dirty 2>/dev/null || echo devel)" \
		-o bin/kubectl-sluice ./cmd/kubectl-sluice

##@ Tests
.PHONY: test
test: tools verify lint test-unit test-e2e ## All test tiers: pure, envtest and e2e on the local control plane.

.PHONY: test-unit
test-unit: ## Pure and envtest tests.
	go test $(GO_TEST_FLAGS) $(UNIT_PKGS)

.PHONY: test-e2e
test-e2e: ## End-to-end tests on the local control plane (needs make tools).
	go test $(GO_TEST_FLAGS) -timeout 30m ./test/e2e/...

.PHONY: bench
bench: ## Benchmarks against the local control plane.
	go test -run '^$$' -bench . -benchtime 1x -timeout 60m ./test/bench/...

##@ Local cluster
.PHONY: cluster-up
cluster-up: tools ## Start the local control plane in the background; writes .cluster/kubeconfig.
	go run ./test/cluster/cmd/sluice-cluster --dir $(CLUSTER_DIR) up

.PHONY: cluster-down
cluster-down: ## Stop the local control plane.
	@if [ -f $(CLUSTER_DIR)/controller.pid ]; then kill $$(cat $(CLUSTER_DIR)/controller.pid) 2>/dev/null || true; rm -f $(CLUSTER_DIR)/controller.pid; fi
	go run ./test/cluster/cmd/sluice-cluster --dir $(CLUSTER_DIR) down

.PHONY: demo
DEMO_WEBHOOK_ADDR ?= 127.0.0.1:18642
DEMO_SERVE ?= true
demo: build cluster-up ## The article's workflow end to end: GitSyncs, canaries, an automatic abort, git revert, self-heal.
	@if [ -f $(CLUSTER_DIR)/controller.pid ] && kill -0 $$(cat $(CLUSTER_DIR)/controller.pid) 2>/dev/null; then \
		pid=$$(cat $(CLUSTER_DIR)/controller.pid); kill $$pid; \
		while kill -0 $$pid 2>/dev/null; do sleep 0.2; done; \
		echo "sluice-controller stopped (pid $$pid); starting it again with the webhook receiver"; \
	fi
	@nohup bin/sluice-controller --kubeconfig $(CLUSTER_DIR)/kubeconfig --metrics-bind-address 127.0.0.1:0 --health-probe-bind-address 127.0.0.1:0 \
		--webhook-bind-address $(DEMO_WEBHOOK_ADDR) --webhook-secret sluice-system/demo-webhook \
		> $(CLUSTER_DIR)/controller.log 2>&1 & echo $$! > $(CLUSTER_DIR)/controller.pid; \
		echo "sluice-controller started (pid $$(cat $(CLUSTER_DIR)/controller.pid)), log in $(CLUSTER_DIR)/controller.log"
	go run ./test/demo/cmd/sluice-demo --kubeconfig $(CLUSTER_DIR)/kubeconfig --dir $(CLUSTER_DIR)/demo \
		--webhook-url http://$(DEMO_WEBHOOK_ADDR) --serve=$(DEMO_SERVE)
