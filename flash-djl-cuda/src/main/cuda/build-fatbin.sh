#!/usr/bin/env bash
# build-fatbin.sh OUT_FATBIN - compile all flash-djl kernels into one fatbin:
# SASS for sm_80, sm_86, sm_89 (from compute_80), sm_90a (from compute_90a: the Hopper device pass,
# whose tile sizes and wgmma kernels flash_tiles.h picks) and compute_80 PTX (for newer GPUs, JIT by
# the driver). Two front-end passes, ptxas passes run in parallel (--threads 0).
# Extra nvcc flags may follow the output path; with -Xptxas -v among them, ptxas's report is printed.
# The build fails when ptxas reports a "Potential Performance Loss": it then ignored setmaxnreg (C7508) or
# serialised the warpgroup MMAs, which compiles and runs correctly but slowly (measured: 0.53-0.59x at d = 96,
# PERF_LOG.md), so nothing else would catch it.
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
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
if ! "$NVCC" -fatbin -std=c++17 -O3 --threads 0 "${GENCODE[@]}" -Xfatbin=-compress-all -Xptxas -v \
  "$@" -I "$HERE" -o "$OUT" "$HERE/flash_kernels.cu" > "$LOG" 2>&1; then
  cat "$LOG" >&2
  exit 1
fi
if [[ " $* " == *" -v "* ]]; then cat "$LOG"; else grep -i "warning" "$LOG" >&2 || true; fi
if grep -q "Potential Performance Loss" "$LOG"; then
  grep -B3 "Potential Performance Loss" "$LOG" >&2
  echo "build-fatbin.sh: ptxas reports a performance loss (above); see the note at the top of this script" >&2
  rm -f "$OUT"
  exit 1
fi
echo "$OUT: $(stat -c %s "$OUT") bytes"
