// tf32_round_gpucheck.cu - Tf32x3::to_tf32 (flash_tf32.cuh, integer rounding) against the hardware's
// cvt.rna.tf32.f32 over all 2^32 float bit patterns. Needs an sm_80+ GPU (about a second), so it is
// not one of the build's host tests (*_test.cu, run by compile-kernels.sh); run it by hand:
//   nvcc -std=c++17 -arch=sm_90a -I flash-djl-cuda/src/main/cuda -o /tmp/tf32_round_gpucheck \
//        flash-djl-cuda/src/test/cuda/tf32_round_gpucheck.cu && /tmp/tf32_round_gpucheck
// Prints the mismatches by class of input (finite, infinite, NaN), and the first few of each. Exits
// 1 if a finite or infinite input differs, or a NaN input gives a number.
#include <cstdio>
#include "flash_tf32.cuh"

__device__ unsigned long long counts[3];  // mismatches: finite, infinite, NaN input
__device__ unsigned long long nan_to_number;
__device__ unsigned int examples[3][4][2];

__global__ void compare(uint32_t hi_bits) {
  const uint32_t x = (hi_bits << 24) | (blockIdx.x * blockDim.x + threadIdx.x);
  const float f = __uint_as_float(x);
  uint32_t hw;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(hw) : "f"(f));
  const uint32_t sw = fdjl::Tf32x3::to_tf32(f);
  if (hw == sw) return;
  const int cls = isfinite(f) ? 0 : isinf(f) ? 1 : 2;
  if (cls == 2 && !isnan(__uint_as_float(sw))) atomicAdd(&nan_to_number, 1ull);
  const unsigned long long i = atomicAdd(&counts[cls], 1ull);
  if (i < 4) {
    examples[cls][i][0] = x;
    examples[cls][i][1] = (hw != sw) ? sw : 0;
  }
}

int main() {
  for (uint32_t hi = 0; hi < 256; ++hi) compare<<<(1u << 24) / 256, 256>>>(hi);
  if (cudaDeviceSynchronize() != cudaSuccess) {
    std::printf("CUDA error: %s\n", cudaGetErrorString(cudaGetLastError()));
    return 2;
  }
  unsigned long long c[3], n2n;
  unsigned int ex[3][4][2];
  cudaMemcpyFromSymbol(c, counts, sizeof c);
  cudaMemcpyFromSymbol(&n2n, nan_to_number, sizeof n2n);
  cudaMemcpyFromSymbol(ex, examples, sizeof ex);
  const char* names[3] = {"finite", "infinite", "NaN"};
  for (int k = 0; k < 3; ++k) {
    std::printf("%-8s inputs: %llu mismatches", names[k], c[k]);
    for (int i = 0; i < 4 && i < (int)c[k]; ++i) std::printf("  %08x -> %08x", ex[k][i][0], ex[k][i][1]);
    std::printf("\n");
  }
  std::printf("NaN inputs whose rounding is not NaN: %llu\n", n2n);
  const bool ok = c[0] == 0 && c[1] == 0;
  std::printf("%s\n", ok ? "PASS: every finite and infinite input rounds as cvt.rna.tf32.f32" : "FAIL");
  return ok ? 0 : 1;
}
