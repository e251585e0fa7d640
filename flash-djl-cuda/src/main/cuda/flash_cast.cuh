// flash_cast.cuh - the cast that feeds the mixed kernels (float32 data, 16-bit compute): each
// operand is rounded once (nearest even) into a dense scratch copy of the compute type, instead of
// once per tile that reads it, so the kernels themselves stay the 16-bit kernels.
#pragma once
#include "flash_common.cuh"
#include "flash_tiles.h"

namespace fdjl {

// CastShape::ROWS rows per CTA, their 8-column chunks spread over all threads (so that narrow
// rows keep every lane busy); columns past head_dim are written as 0. A chunk whose source is
// 16-byte aligned is read with two 16-byte loads.
template <typename T>
__device__ __forceinline__ void cast_kernel(const FlashCastParams& p) {
  const int h = blockIdx.y, b = blockIdx.z, hd = p.head_dim;
  const int chunks = (hd + 7) / 8;  // per row
  const int row0 = blockIdx.x * CastShape::ROWS;
  const StridedView<const float> src(p.src);
  const StridedView<T> dst(p.dst);
  for (int i = threadIdx.x; i < CastShape::ROWS * chunks; i += CastShape::THREADS) {
    const int row = row0 + i / chunks, c = i % chunks;
    if (row >= p.seqlen) break;
    const float* s = src.row_at(b, h, row) + c * 8;
    float v[8];
    if (hd - c * 8 >= 8 && (reinterpret_cast<uintptr_t>(s) & 15) == 0) {
      const float4 x = reinterpret_cast<const float4*>(s)[0], y = reinterpret_cast<const float4*>(s)[1];
      v[0] = x.x; v[1] = x.y; v[2] = x.z; v[3] = x.w; v[4] = y.x; v[5] = y.y; v[6] = y.z; v[7] = y.w;
    } else {
      load_chunk<float>(s, v, hd - c * 8);
    }
    store_chunk<T>(dst.row_at(b, h, row) + c * 8, v, 8);
  }
}

}  // namespace fdjl
