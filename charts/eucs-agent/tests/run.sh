#!/usr/bin/env bash
# Lints and tests the eucs-agent Helm chart and the Dockerfile.
#
# Needs only Go. The helm CLI is the version pinned in this module's go.mod
# (its `tool` line); it is built once into a cache directory, which takes a few
# minutes on two cores, and reused after that. Modules come from the Go module
# proxy during the install steps only; lint and tests then work offline.
#
#   charts/eucs-agent/tests/run.sh          # from anywhere
#   HELM=/usr/local/bin/helm run.sh         # test with another helm v3 instead
#   EUCS_CHART_CACHE=DIR run.sh             # where the built helm is kept
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
chart=$(dirname "$here")
root=$(cd "$chart/../.." && pwd)
cd "$here"

step() { echo "--- $* (at ${SECONDS}s)"; }

step "install: modules"
go mod download
go -C "$root" mod download

# The tests run `eucs-agent validate` on the rendered agent.yaml. It builds in
# the background while helm does: on a fresh machine each build spends minutes
# on one huge package (AWS's ec2, Kubernetes' API types) with a core to spare.
bin=$(mktemp -d)
step "install: building eucs-agent (in the background)"
go -C "$root" build -o "$bin/eucs-agent" ./cmd/eucs-agent >"$bin/build.log" 2>&1 &
agent_build=$!
trap 'kill "$agent_build" 2>/dev/null || true; rm -rf "$bin"' EXIT

# Release builds of helm stamp its version and the Kubernetes version that
# templates see as .Capabilities.KubeVersion (the chart's kubeVersion is
# checked against it); without them helm would claim Kubernetes 1.20.
helm_version=$(go list -m -f '{{.Version}}' helm.sh/helm/v3)
kube_minor=$(go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)
cache=${EUCS_CHART_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/eucs-agent-chart}/helm-$helm_version-k8s-1.$kube_minor
if [ -z "${HELM:-}" ]; then
  HELM=$cache/helm
  if [ ! -x "$HELM" ]; then
    step "install: building helm $helm_version into $cache (first run only)"
    mkdir -p "$cache"
    # No -trimpath: the tests then reuse helm's compiled Kubernetes packages.
    go build -o "$HELM.tmp" -ldflags "-s -w \
      -X helm.sh/helm/v3/internal/version.version=$helm_version \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kube_minor" \
      helm.sh/helm/v3/cmd/helm
    mv "$HELM.tmp" "$HELM"
  fi
fi
export HELM
echo "helm $("$HELM" version --short)"

if ! wait "$agent_build"; then
  cat "$bin/build.log"
  echo "building eucs-agent failed" >&2
  exit 1
fi
step "install: eucs-agent built"
export EUCS_AGENT=$bin/eucs-agent

# No cluster is needed or wanted: a developer's kubeconfig must not change
# what lint sees.
export KUBECONFIG=/dev/null
for values in "$chart"/ci/*-values.yaml; do
  step "helm lint --strict -f ci/$(basename "$values")"
  "$HELM" lint --strict "$chart" -f "$values" --namespace evidence
done

# A module of its own: the repository's `go vet ./...` does not reach it.
step "go vet, go test (charts/eucs-agent/tests)"
go vet ./...
go test -count=1 ./...
step "done"
