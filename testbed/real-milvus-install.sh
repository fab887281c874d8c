#!/usr/bin/env bash
# Installs the real Milvus standalone servers pinned in versions.env (MILVUS_REAL_VERSIONS) from
# PyPI's `milvus` wheels ("Embedded Milvus": the real server binary and its libraries) into one
# virtual environment per version, .testbed/milvus-<version>/ (never a global install).
# Wheels are kept in .testbed/wheels, so a rerun (or a reinstall after a version change) does not
# download again. Each venv is stamped with its version: a rerun with nothing to do takes no time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
wheels="$root/.testbed/wheels"
log() { printf '[testbed real-milvus %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
python=${PYTHON:-python3}
for v in ${MILVUS_REAL_VERSIONS}; do
  venv="$root/.testbed/milvus-$v"
  if [ -x "$venv/bin/milvus-server" ] && [ "$(cat "$venv/.version" 2>/dev/null)" = "$v" ]; then continue; fi
  mkdir -p "$wheels"
  if ! ls "$wheels"/milvus-"$v"-*.whl >/dev/null 2>&1; then
    log "downloading the milvus==$v wheel"
    "$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$wheels" "milvus==$v"
  fi
  log "installing milvus $v into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-index --find-links "$wheels" "milvus==$v"
  # The wheel keeps the server binary and its libraries lzma-packed; its wrapper unpacks them on
  # first use. Unpack once here, with the wheel's own function, into server/bin: the test harness
  # (test/e2e/real-milvus.ts) runs that binary directly, with ports and config of its choosing.
  "$venv/bin/python" -c 'import sys, milvus; milvus._initialize_data_files(sys.argv[1])' "$venv/server"
  [ -x "$venv/server/bin/milvus" ] || { log "no server binary in the milvus==$v wheel"; exit 1; }
  echo "$v" > "$venv/.version"
done
