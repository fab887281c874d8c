#!/usr/bin/env bash
# Builds the test bed's binaries from Go modules into .testbed/bin (git-ignored).
# Each binary is rebuilt only when its pinned version in versions.env changes.
#   build.sh                 every part
#   build.sh krew helm ...   only the parts named (k8s kwok helm krew operator etcd real-milvus)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
bin="$root/.testbed/bin"
work="$root/.testbed/build"
mkdir -p "$bin" "$work"
export GOFLAGS=-mod=mod CGO_ENABLED=0
log() { printf '[testbed build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
stamp() { echo "$bin/.$1.version"; }
fresh() { [ -x "$bin/$1" ] && [ "$(cat "$(stamp "$1")" 2>/dev/null)" = "$2" ]; }
started=$(date +%s)
parts=(k8s kwok helm krew operator etcd real-milvus)
only=("$@")
for p in "${only[@]}"; do
  [[ " ${parts[*]} " == *" $p "* ]] || { echo "build.sh: unknown part \"$p\" (parts: ${parts[*]})" >&2; exit 2; }
done
want() { [ ${#only[@]} -eq 0 ] || [[ " ${only[*]} " == *" $1 "* ]]; }

# kube-apiserver, kube-controller-manager, kube-scheduler: k8s.io/kubernetes cannot be
# `go install`ed (its go.mod pins the staging modules at v0.0.0 with replace directives), so
# a wrapper module requires it and replaces every staging module with its published v0.X.Y.
k8s_needed=()
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  want k8s || continue
  fresh "$c" "$K8S_VERSION" || k8s_needed+=("$c")
done
if [ ${#k8s_needed[@]} -gt 0 ]; then
  mod="$work/k8s-$K8S_VERSION"
  mkdir -p "$mod"
  staging_ver="v0.${K8S_VERSION#1.}"
  log "fetching k8s.io/kubernetes v$K8S_VERSION module"
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module kubectl-milvus.local/testbed/k8s"
    echo
    echo "go 1.24.0"
    echo
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo
    grep -E '=> \./staging/' "$gomod" | awk -v v="$staging_ver" '{print "replace " $1 " => " $1 " " v}'
  } > "$mod/go.mod"
  [ -f "$mod/main.go" ] || printf 'package main\n\nfunc main() {}\n' > "$mod/main.go"
  for c in "${k8s_needed[@]}"; do
    log "building $c v$K8S_VERSION (the first build takes a while)"
    (cd "$mod" && go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#1.} -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION" -o "$bin/$c" "k8s.io/kubernetes/cmd/$c")
    echo "$K8S_VERSION" > "$(stamp "$c")"
  done
fi

for c in kwok kwokctl; do
  want kwok || continue
  if ! fresh "$c" "$KWOK_VERSION"; then
    log "building $c $KWOK_VERSION"
    GOBIN="$bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/$c@$KWOK_VERSION"
    echo "$KWOK_VERSION" > "$(stamp "$c")"
  fi
done

if want helm && ! fresh helm "$HELM_VERSION"; then
  log "building helm $HELM_VERSION"
  GOBIN="$bin" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  echo "$HELM_VERSION" > "$(stamp helm)"
fi

# krew and its validate-krew-manifest, from the Go module proxy: the packaging tests run krew's own
# manifest check and an offline `krew install` of every platform's archive.
if want krew && { ! fresh krew "$KREW_VERSION" || ! fresh validate-krew-manifest "$KREW_VERSION"; }; then
  log "building krew and validate-krew-manifest $KREW_VERSION"
  GOBIN="$bin" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/krew/internal/version.gitTag=$KREW_VERSION" \
    "sigs.k8s.io/krew/cmd/krew@$KREW_VERSION" "sigs.k8s.io/krew/cmd/validate-krew-manifest@$KREW_VERSION"
  echo "$KREW_VERSION" > "$(stamp krew)"
  echo "$KREW_VERSION" > "$(stamp validate-krew-manifest)"
fi

# The real Milvus Operator. Its module is copied out of the (read-only) module cache into
# .testbed/build, because the build needs a writable tree (go.sum updates); its config
# (CRDs, asset templates) is kept beside the binary in .testbed/bin/milvus-operator-config.
if want operator && { ! fresh milvus-operator "$MILVUS_OPERATOR_VERSION" || [ ! -d "$bin/milvus-operator-config/crd/bases" ]; }; then
  op_mod="github.com/zilliztech/milvus-operator"
  op_ver="$MILVUS_OPERATOR_VERSION"
  log "fetching $op_mod@$op_ver"
  op_src=$(go mod download -json "$op_mod@$op_ver" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  op_dir="$work/milvus-operator-$op_ver"
  if [ ! -f "$op_dir/main.go" ]; then
    rm -rf "$op_dir"
    cp -r "$op_src" "$op_dir"
    chmod -R u+w "$op_dir"
  fi
  log "building milvus-operator $op_ver (the first build takes several minutes)"
  op_pkg="$op_mod/apis/milvus.io/v1beta1"
  (cd "$op_dir" && go mod download && go build -trimpath -ldflags "-s -w -X $op_pkg.Version=${op_ver#v} -X $op_pkg.MilvusHelmVersion=milvus-5.0.22" -o "$bin/milvus-operator.tmp" main.go)
  mv "$bin/milvus-operator.tmp" "$bin/milvus-operator"
  rm -rf "$bin/milvus-operator-config"
  mkdir -p "$bin/milvus-operator-config"
  cp -r "$op_dir/config/crd" "$op_dir/config/assets" "$bin/milvus-operator-config/"
  echo "$MILVUS_OPERATOR_VERSION" > "$(stamp milvus-operator)"
fi

if want etcd && ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
  log "installing Debian's etcd-server"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
  else
    log "etcd is missing and this user cannot apt-get install etcd-server"; exit 1
  fi
fi
if want etcd; then ln -sf "$(command -v etcd || echo /usr/bin/etcd)" "$bin/etcd"; fi
# The real Milvus standalone servers (MILVUS_REAL_VERSIONS) from PyPI's `milvus` wheels.
if want real-milvus; then bash "$here/real-milvus-install.sh"; fi
log "done in $(( $(date +%s) - started ))s"
