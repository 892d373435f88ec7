#!/bin/bash
# The whole test suite, from a fresh checkout:
#   scripts/test.sh [tests/run.py options, e.g. -k PATTERN -j 2 --keep]
# installs the build dependencies (apt-get, as root; CRYO_SKIP_DEPS=1 skips
# it), configures and builds build/ (meson + ninja), builds the fuzzers in
# build-fuzz/ (clang), then runs tests/run.py: workloads in every flavour,
# the script test, negative tests, unit tests and each fuzzer for
# CRYO_FUZZ_SECONDS (default 20; 0 = no fuzzing). The last line of output is
# "N passed, N failed"; the exit status is non-zero if anything failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

deps=(meson ninja-build gcc clang libclang-rt-14-dev protobuf-c-compiler libprotobuf-c-dev libxxhash-dev
      libzstd-dev libcap-dev pkg-config python3)
if [ "${CRYO_SKIP_DEPS:-0}" != 1 ]; then
        if [ "$(id -u)" = 0 ]; then
                echo "test.sh: installing build dependencies (apt-get)"
                export DEBIAN_FRONTEND=noninteractive
                apt-get update -qq >/dev/null
                apt-get install -y -qq --no-install-recommends "${deps[@]}" >/dev/null
        else
                echo "test.sh: not root, not installing dependencies (${deps[*]})" >&2
        fi
fi

# reconfigure every time: the list of workloads is read at configure time
if [ -d build ]; then
        meson setup --reconfigure build >/dev/null
else
        meson setup build >/dev/null
fi
ninja -C build

fuzz_args=()
secs=${CRYO_FUZZ_SECONDS:-20}
if [ "$secs" != 0 ]; then
        if command -v clang >/dev/null && tests/fuzz/build.sh "$top/build-fuzz" >/dev/null; then
                fuzz_args=(--fuzz "$secs" --fuzz-build "$top/build-fuzz")
        else
                echo "test.sh: cannot build the fuzzers, skipping them" >&2
        fi
fi

py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
exec "$py" tests/run.py "${fuzz_args[@]}" "$@"
