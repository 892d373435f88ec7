#!/bin/bash
# Builds the libFuzzer targets with clang straight from the sources:
#   tests/fuzz/build.sh [OUTDIR]        (default: build-fuzz)
# and seeds a corpus for each from this machine's /proc and a few images.
# Run one:  build-fuzz/fuzz-proc -max_total_time=20 build-fuzz/corpus/fuzz-proc
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/build-fuzz}
mkdir -p "$out/gen" "$out/corpus/fuzz-proc" "$out/corpus/fuzz-image"
CC=${CC:-clang}
SAN=${FUZZ_SANITIZERS:-fuzzer,address,undefined}
protoc-c --proto_path="$top/src/image/proto" --c_out="$out/gen" "$top"/src/image/proto/*.proto
printf '#define CRYO_VERSION "fuzz"\n' > "$out/gen/config.h"
cflags=(-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize="$SAN" -fno-sanitize-recover=undefined
        -I"$top/src" -I"$top" -I"$out/gen" -Wall -Wno-unused-parameter)
common=("$top/src/basic/log.c" "$top/src/basic/util.c")
$CC "${cflags[@]}" -o "$out/fuzz-proc" "$top/tests/fuzz/fuzz-proc.c" "$top/src/basic/proc.c" "${common[@]}"
$CC "${cflags[@]}" -o "$out/fuzz-image" "$top/tests/fuzz/fuzz-image.c" "$top/src/image/image.c" \
        "${common[@]}" "$out"/gen/*.pb-c.c $(pkg-config --cflags --libs libprotobuf-c libxxhash)
# seeds: real /proc text
for f in smaps maps status stat limits timers; do
        cat /proc/self/$f > "$out/corpus/fuzz-proc/$f" 2>/dev/null || true
done
cat /proc/self/fdinfo/0 > "$out/corpus/fuzz-proc/fdinfo" 2>/dev/null || true
# seeds: mode 1 (valid header around the payload) with small protobuf-ish payloads
printf '\001' > "$out/corpus/fuzz-image/empty"
printf '\001\010\001\022\004test\030\002' > "$out/corpus/fuzz-image/fields"
printf '\000CRYO' > "$out/corpus/fuzz-image/magic"
# known crashers stay in the corpus so every run replays them first
for t in fuzz-proc fuzz-image; do
        [ -d "$top/tests/fuzz/regressions/$t" ] && cp "$top/tests/fuzz/regressions/$t"/* "$out/corpus/$t/" 2>/dev/null || true
done
echo "built $out/fuzz-proc $out/fuzz-image"
