#!/usr/bin/env bash
# Create a kind cluster and install everything a load run needs: CRDs, tfsim and capisim
# (image capt-load:dev), and capt (image capt:dev, deploy/default with plain-HTTP metrics).
#
#   RUNTIME=actors|kube-runtime   capt's --runtime (default actors)
#   CLUSTER=capt-load             kind cluster name
#   SKIP_IMAGES=1                 reuse already loaded images
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER=${CLUSTER:-capt-load}
RUNTIME=${RUNTIME:-actors}

if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --config load/kind/kind-config.yaml
fi
kubectl config use-context "kind-$CLUSTER"

if [[ -z "${SKIP_IMAGES:-}" ]]; then
  docker build -t capt:dev .
  docker build -f load/Dockerfile -t capt-load:dev .
  kind load docker-image --name "$CLUSTER" capt:dev capt-load:dev
fi

# Workspace and Cluster CRDs first: capt watches both kinds from its start.
kubectl apply --server-side -f load/crds/
kubectl wait --for=condition=Established --timeout=60s \
  crd/workspaces.tf.upbound.io crd/clusters.cluster.x-k8s.io

kubectl apply --server-side -k load/kind/sims
kubectl -n capt-load rollout status deploy/tfsim deploy/capisim --timeout=180s

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r load/kind/capt "$tmp/capt"
sed -i "s|--runtime=.*|--runtime=$RUNTIME|" "$tmp/capt/manager-args.yaml"
sed -i "s|\.\./\.\./\.\./deploy/default|$PWD/deploy/default|" "$tmp/capt/kustomization.yaml"
kubectl apply --server-side -k "$tmp/capt"
kubectl -n capt-system rollout status deploy/capt-controller-manager --timeout=180s
echo "ready: capt ($RUNTIME), tfsim and capisim run in kind-$CLUSTER" >&2
