#!/usr/bin/env bash
# build-fatbin.sh OUT_FATBIN - compile all flash-djl kernels into one fatbin:
# SASS for sm_80, sm_86, sm_89, sm_90 and compute_80 PTX (for newer GPUs, JIT by the driver).
# One front-end pass (compute_80), four ptxas passes run in parallel (--threads 0).
set -euo pipefail
if [ $# -ne 1 ]; then echo "usage: $0 OUT_FATBIN" >&2; exit 2; fi
OUT="$1"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NVCC="${NVCC:-nvcc}"
mkdir -p "$(dirname "$OUT")"
"$NVCC" -fatbin -std=c++17 -O3 --threads 0 \
  -gencode arch=compute_80,code=sm_80 \
  -gencode arch=compute_80,code=sm_86 \
  -gencode arch=compute_80,code=sm_89 \
  -gencode arch=compute_80,code=sm_90 \
  -gencode arch=compute_80,code=compute_80 \
  -I "$HERE" -o "$OUT" "$HERE/flash_kernels.cu"
echo "$OUT: $(stat -c %s "$OUT") bytes"
