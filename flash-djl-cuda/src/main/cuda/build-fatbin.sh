#!/usr/bin/env bash
# build-fatbin.sh OUT_FATBIN - compile all flash-djl kernels into one fatbin:
# SASS for sm_80, sm_86, sm_89 (from compute_80), sm_90a (from compute_90a: the Hopper device pass,
# whose tile sizes and wgmma kernels flash_tiles.h picks) and compute_80 PTX (for newer GPUs, JIT by
# the driver). Two front-end passes, ptxas passes run in parallel (--threads 0).
# Extra nvcc flags (e.g. -Xptxas -v) may follow the output path.
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: $0 OUT_FATBIN" >&2; exit 2; fi
OUT="$1"; shift
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NVCC="${NVCC:-nvcc}"
mkdir -p "$(dirname "$OUT")"
# FLASHDJL_ONLY_SM90A=1: the sm_90a code alone (a smaller fatbin for Hopper-only device runs)
if [ "${FLASHDJL_ONLY_SM90A:-0}" = 1 ]; then
  GENCODE=(-gencode arch=compute_90a,code=sm_90a)
else
  GENCODE=(-gencode arch=compute_80,code=sm_80
           -gencode arch=compute_80,code=sm_86
           -gencode arch=compute_80,code=sm_89
           -gencode arch=compute_90a,code=sm_90a
           -gencode arch=compute_80,code=compute_80)
fi
# -compress-all: the kernels with and without a score bias doubled the SASS; compressed, the sm_90a code
# takes 1.5 MB instead of 9.3 (the driver decompresses it when the module is loaded)
"$NVCC" -fatbin -std=c++17 -O3 --threads 0 "${GENCODE[@]}" -Xfatbin=-compress-all \
  "$@" -I "$HERE" -o "$OUT" "$HERE/flash_kernels.cu"
echo "$OUT: $(stat -c %s "$OUT") bytes"
