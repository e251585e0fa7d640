// flash_cast.cuh - the cast that feeds the mixed kernels (float32 data, 16-bit compute): each
// operand is rounded once (nearest even) into a dense scratch copy of the compute type, instead of
// once per tile that reads it, so the kernels themselves stay the 16-bit kernels.
#pragma once
#include "flash_common.cuh"
#include "flash_tiles.h"

namespace fdjl {

// one warp per row, one 8-column chunk per lane (head_dim <= 256); columns past head_dim are 0
template <typename T>
__device__ __forceinline__ void cast_kernel(const FlashCastParams& p) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row = blockIdx.x * CastShape::ROWS + warp, h = blockIdx.y, b = blockIdx.z, hd = p.head_dim;
  if (row >= p.seqlen || lane * 8 >= hd) return;
  const float* src = StridedView<const float>(p.src).row_at(b, h, row) + lane * 8;
  T* dst = StridedView<T>(p.dst).row_at(b, h, row) + lane * 8;
  float v[8];
  load_chunk<float>(src, v, hd - lane * 8);
  store_chunk<T>(dst, v, 8);
}

}  // namespace fdjl
