#!/usr/bin/env bash
# Called by Maven (process-resources): compiles src/main/cuda into the fatbin resource that the
# CUDA backend loads. Without nvcc the build still succeeds, and the backend then reports that it
# was built without kernels. Skips the compile when the fatbin is newer than every source (notes aside). Before
# the fatbin, builds and runs every src/test/cuda/*_test.cu (host only: the tile and mask logic,
# the dropout generator): a failure stops the build.
#   compile-kernels.sh CLASSES_DIR
set -euo pipefail
out="$1/io/flashdjl/cuda/flash_attention.fatbin"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../main/cuda" && pwd)"
if [ "${FLASHDJL_SKIP_KERNELS:-}" = "true" ]; then
  echo "flash-djl-cuda: FLASHDJL_SKIP_KERNELS=true, building without kernels"
  rm -f "$out"; exit 0
fi
if ! command -v "${NVCC:-nvcc}" >/dev/null 2>&1; then
  echo "flash-djl-cuda: WARNING: nvcc not found; building without kernels (the CUDA backend will say so)"
  rm -f "$out"; exit 0
fi
# (PERF_LOG.md and other notes beside the sources do not count)
if [ -f "$out" ] && [ -z "$(find "$src" -newer "$out" -type f ! -name '*.md' | head -1)" ]; then
  echo "flash-djl-cuda: kernels up to date ($out)"; exit 0
fi
start=$(date +%s)
# the kernels' host-testable logic (Visibility, the dropout generator) against its definition
tests="$(mktemp -d)"
for test_src in "$src"/../../test/cuda/*_test.cu; do
  name=$(basename "$test_src" .cu)
  "${NVCC:-nvcc}" -std=c++17 -I "$src" -o "$tests/$name" "$test_src"
  "$tests/$name" | sed "s/^/flash-djl-cuda: $name: /"
done
rm -rf "$tests"
bash "$src/build-fatbin.sh" "$out"
echo "flash-djl-cuda: kernels compiled in $(( $(date +%s) - start )) s"
