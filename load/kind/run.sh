#!/usr/bin/env bash
# Run the load generator against the kind cluster set up by up.sh. The controller, tfsim and
# capisim run in the cluster; the generator creates templates and clusters, watches them and
# scrapes capt's metrics through a port-forward. Arguments are passed to `capt-load run`,
# e.g. load/kind/run.sh --clusters 1000 --rate 50 --out report/kind-1000
#
#   CAPT_LOAD=target/release/capt-load   the generator binary (built if missing)
#   CLUSTER=capt-load
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER=${CLUSTER:-capt-load}
CAPT_LOAD=${CAPT_LOAD:-target/release/capt-load}
[[ -x "$CAPT_LOAD" ]] || cargo build --release -p capt-load

kubeconfig=$(mktemp)
trap 'rm -f "$kubeconfig"; [[ -n "${pf:-}" ]] && kill "$pf" 2>/dev/null || true' EXIT
kind get kubeconfig --name "$CLUSTER" > "$kubeconfig"

port=${METRICS_PORT:-18443}
kubectl --kubeconfig "$kubeconfig" -n capt-system port-forward deploy/capt-controller-manager \
  "$port:8443" > /dev/null 2>&1 &
pf=$!
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/metrics" > /dev/null && break
  sleep 0.2
done

runtime=$(kubectl --kubeconfig "$kubeconfig" -n capt-system get deploy capt-controller-manager \
  -o jsonpath='{.spec.template.spec.containers[0].args}' | grep -o 'kube-runtime' || echo actors)

"$CAPT_LOAD" run --kubeconfig "$kubeconfig" --controller-cmd none \
  --metrics-url "http://127.0.0.1:$port/metrics" --runtime "$runtime" "$@"
