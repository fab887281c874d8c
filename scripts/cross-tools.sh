#!/usr/bin/env bash
# Installs what the packaging tests need to check the other platforms' executables on a Linux
# x86-64 machine (Debian 12), each only when missing:
#   qemu-user-static + the arm64 C and C++ runtime libraries  -> runs the linux/arm64 executable
#   binutils-aarch64-linux-gnu (unless llvm-strip is there)   -> strips the linux/arm64 runtime
#   wine64                                                    -> runs the windows/amd64 executable
#   rcodesign (crate apple-codesign, into .testbed/bin)       -> signs and checks the macOS one
# apt packages come from Debian (26 s cold, apt-get update included). rcodesign builds with cargo, about 8 minutes
# cold on 2 cores, so it is built only when asked: KM_BUILD_RCODESIGN=1 (or --rcodesign).
# Without root or apt-get, or without cargo, the tools stay missing and the tests that need them
# say so and skip.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[cross-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
started=$(date +%s)
rcodesign_version=0.29.0

missing=()
command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
[ -e /usr/aarch64-linux-gnu/lib/libc.so.6 ] || missing+=(libc6-arm64-cross)
[ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || missing+=(libstdc++6-arm64-cross)
[ -e /usr/aarch64-linux-gnu/lib/libgcc_s.so.1 ] || missing+=(libgcc-s1-arm64-cross)
command -v llvm-strip >/dev/null 2>&1 || command -v aarch64-linux-gnu-strip >/dev/null 2>&1 || missing+=(binutils-aarch64-linux-gnu)
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null 2>&1 || missing+=(wine64)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${missing[*]} from Debian"
    # A failed install leaves the tools missing: the checks that need them skip and say so.
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
      log "apt-get could not install ${missing[*]}: those checks will skip"
  else
    log "missing ${missing[*]}, and this user cannot apt-get install them: those checks will skip"
  fi
fi

stamp="$root/.testbed/bin/.rcodesign.version"
if [ "${KM_BUILD_RCODESIGN:-}" = 1 ] || [ "${1:-}" = --rcodesign ]; then
  if [ -x "$root/.testbed/bin/rcodesign" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$rcodesign_version" ]; then
    log "rcodesign $rcodesign_version already built"
  elif command -v cargo >/dev/null 2>&1; then
    log "building rcodesign $rcodesign_version with cargo (about 8 minutes cold on 2 cores)"
    work="$root/.testbed/build/rcodesign"
    mkdir -p "$work" "$root/.testbed/bin"
    CARGO_TARGET_DIR="$work/target" cargo install --quiet --locked --no-default-features "apple-codesign@$rcodesign_version" --root "$work/root"
    cp "$work/root/bin/rcodesign" "$root/.testbed/bin/rcodesign"
    echo "$rcodesign_version" > "$stamp"
  else
    log "cargo not found: rcodesign is not built, the macOS executable cannot be signed here"
  fi
fi
log "done in $(( $(date +%s) - started ))s"
