#!/usr/bin/env bash
# Installs what cryo needs to build and test on Debian 12, then builds it.
# Used by demo.sh and test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(meson ninja-build gcc pkg-config protobuf-c-compiler libprotobuf-c-dev libxxhash-dev
      libzstd-dev libcap-dev python3 clang libclang-rt-14-dev iproute2 procps psmisc)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -f build/build.ninja ]; then
    meson setup build >/dev/null
fi
meson setup --reconfigure build >/dev/null
ninja -C build >/dev/null
echo "==> built build/cryo"
