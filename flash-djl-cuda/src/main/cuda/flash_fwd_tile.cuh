// flash_fwd_tile.cuh - what every forward kernel (mma.sync and wgmma) knows about its CTA's tile
// of query rows: the (batch, head) pointers, the visibility band, the range of K/V tiles it must
// visit (tiles no row of it sees are skipped) and the output of a tile whose rows see no key.
#pragma once
#include "flash_common.cuh"

namespace fdjl {

template <typename T, typename TO = T> struct FwdTile {
  const T *q, *k, *v;  // row 0 of this (batch, head) / (batch, kv head)
  TO* o;               // the output, in the data type (flash_common.cuh: element I/O)
  float* lse;          // this (batch, head)'s LSE row
  int hd, m0;
  Visibility vis;

  __device__ __forceinline__ FwdTile(const FlashFwdParams& p, int mb, int BR) : vis(p) {
    const int h = blockIdx.y, b = blockIdx.z;
    const int hk = h / (p.heads_q / p.heads_kv);  // GQA / MQA: the K/V head of query head h
    hd = p.head_dim;
    m0 = mb * BR;
    q = StridedView<const T>(p.q).at(b, h);
    k = StridedView<const T>(p.k).at(b, hk);
    v = StridedView<const T>(p.v).at(b, hk);
    o = StridedView<TO>(p.o).at(b, h);
    lse = p.lse + stats_row0(b, h, p.heads_q, vis.Nq);
  }

  // K/V tiles of BC keys that rows m0 .. m0+BR-1 need
  __device__ __forceinline__ TileRange key_tiles(int BR, int BC) const { return vis.key_tiles(m0, BR, BC); }

  // no row of the tile sees any key: O = 0, LSE = -inf (what the online softmax would give)
  template <int D, int BR, int NT>
  __device__ __forceinline__ void write_empty(int64_t o_row_stride, int tid) const {
    constexpr int ND = D / 8;
    const float zero[8] = {};
    for (int i = tid; i < BR * ND; i += NT) {
      const int r = i / ND, c = i % ND;
      if (m0 + r < vis.Nq && c * 8 < hd) store_chunk<TO>(o + (int64_t)(m0 + r) * o_row_stride + c * 8, zero, hd - c * 8);
    }
    for (int r = tid; r < BR; r += NT)
      if (m0 + r < vis.Nq) lse[m0 + r] = -INFINITY;
  }
};

}  // namespace fdjl
