#!/usr/bin/env bash
# `make kind-up`: the kind cluster of kind-config.yaml with the chart installed in it, and an
# example Checkout in each mode carried out. Safe to run again: what exists is kept.
#
# Where the config's node image and the chart's images can be pulled and nodes can be
# --privileged, the cluster is made exactly as kind-config.yaml says. Where not (no registry, or a
# host whose capability bounding set is short), what the machine needs is added and everything is
# built here (hack/kind/README.md): the node image, the cluster's own images, the chart's NATS,
# PostgreSQL and Mailpit; the config kind is given is written to .dev/kind/cluster.yaml.
#
# Environment: KIND, HELM, KUBECTL (the binaries; the Makefile builds them), DOCKER,
# KIND_OFFLINE=auto|true|false (auto: offline when the config's node image cannot be had),
# IMAGE_TAG (the project's images, default dev), RELEASE_NAMESPACE (default checkout-system),
# KIND_CONFIG (default kind-config.yaml) and KIND_DIR (where the kubeconfig and the adapted config
# go, default .dev/kind): the tests make a cluster of their own with these.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
hack=$repo/hack
# shellcheck source=../versions.env
. "$hack/versions.env"
docker=${DOCKER:-docker}
kind=${KIND:-kind}
helm=${HELM:-helm}
kubectl=${KUBECTL:-kubectl}
python=${PYTHON:-$repo/.venv/bin/python}
tag=${IMAGE_TAG:-dev}
namespace=${RELEASE_NAMESPACE:-checkout-system}
release=checkout-operator
config=${KIND_CONFIG:-$repo/kind-config.yaml}
dev=${KIND_DIR:-$repo/.dev/kind}
kubeconfig=$dev/kubeconfig
mkdir -p "$dev"
say() { printf '==> %s\n' "$*" >&2; }

described=$("$python" -m checkout_devenv.kindconfig --describe "$config")
read -r cluster config_image mail_port <<<"$described"

# shellcheck source=host.sh
. "$hack/kind/host.sh"

offline=${KIND_OFFLINE:-auto}
if [ "$offline" = auto ]; then
  offline=false
  if ! "$docker" image inspect "$config_image" >/dev/null 2>&1 &&
    ! timeout 300 "$docker" pull "$config_image" >/dev/null 2>&1; then
    offline=true
  fi
fi
say "cluster $cluster: offline=$offline${unprivileged:+, nodes without --privileged (the host lacks $unprivileged)}"

# The node image and kind's config for this host.
adapt=()
if [ "$offline" = true ] || [ -n "$unprivileged" ]; then
  say "node image (made here, once per input)"
  node_image=$("$hack/kind/node-image.sh")
  adapt=(--node-image "$node_image" --etcd-image-tag "$ETCD_VERSION")
fi
[ -z "$unprivileged" ] || adapt+=(--unprivileged)
[ -z "$cgroup_v1" ] || adapt+=(--cgroup-v1)
"$python" -m checkout_devenv.kindconfig "$config" "${adapt[@]}" >"$dev/cluster.yaml"

if "$kind" get clusters 2>/dev/null | grep -qx "$cluster"; then
  say "cluster $cluster exists; kept"
else
  say "creating cluster $cluster from $dev/cluster.yaml"
  "$kind" create cluster --config "$dev/cluster.yaml" --kubeconfig "$kubeconfig"
fi
# The kubeconfig in .dev/kind and in kind's default place (KUBECONFIG, or ~/.kube/config).
"$kind" export kubeconfig --name "$cluster" --kubeconfig "$kubeconfig" 2>/dev/null
"$kind" export kubeconfig --name "$cluster" 2>/dev/null
k() { "$kubectl" --kubeconfig "$kubeconfig" "$@"; }

if [ -n "${node_image:-}" ]; then
  say "cluster DNS (answers for the cluster only) and NetworkPolicies (kube-router)"
  k apply -f "$hack/kind/manifests/coredns.yaml" -f "$hack/kind/manifests/kube-router.yaml" >/dev/null
fi
k wait --for=condition=Ready node --all --timeout=180s >/dev/null
k -n kube-system rollout status deployment/coredns --timeout=180s >/dev/null
[ -z "${node_image:-}" ] || k -n kube-system rollout status daemonset/kube-router --timeout=180s >/dev/null

say "the project's images (tag $tag)"
images=() build_args=() values=()
if [ "$offline" = true ]; then
  build_args=(--build-arg "BASE_IMAGE=$("$hack/base-image.sh")")
fi
for target in operator dispatcher functions; do
  "$docker" build -q "${build_args[@]}" --target "$target" -t "checkout-operator/$target:$tag" \
    "$repo" >/dev/null
  images+=("checkout-operator/$target:$tag")
done
if [ "$offline" = true ]; then
  say "the chart's NATS, PostgreSQL and Mailpit, built here"
  release_images=$("$hack/kind/release-images.sh" "$dev/release-values.yaml")
  mapfile -t -O "${#images[@]}" images <<<"$release_images"
  values=(--values "$dev/release-values.yaml")
fi
say "loading ${#images[@]} images into the node"
"$kind" load docker-image --name "$cluster" "${images[@]}" >/dev/null

say "helm upgrade --install $release into $namespace"
"$helm" upgrade --install "$release" "$repo/charts/checkout-operator" --kubeconfig "$kubeconfig" \
  --namespace "$namespace" --create-namespace "${values[@]}" --set "image.tag=$tag" \
  --set mailpit.service.type=NodePort --set mailpit.service.nodePort=30825 \
  --wait --timeout 10m >/dev/null

say "an example Checkout in each mode"
examples=$(k -n "$namespace" apply -o name -f "$repo/manifests/examples/checkout-member.yaml" \
  -f "$repo/manifests/examples/checkout-choreography.yaml")
read -r -d '' -a examples <<<"$examples" || true
if ! k -n "$namespace" wait "${examples[@]}" --for=condition=Succeeded --timeout=180s >/dev/null; then
  k -n "$namespace" get "${examples[@]}"
  echo "the examples did not succeed: kubectl --kubeconfig $kubeconfig -n $namespace describe" \
    "${examples[*]}" >&2
  exit 1
fi
k -n "$namespace" get "${examples[@]}"
cat <<EOF

The cluster $cluster is up (KUBECONFIG=$kubeconfig, or context kind-$cluster).
  Mailpit, the confirmation emails:  http://localhost:$mail_port
  helm test:  $helm test $release -n $namespace --kubeconfig $kubeconfig
  remove it:  make kind-down
EOF
