// flash_bwd_tile.cuh - what both dK/dV kernels (mma.sync and wgmma) know about their CTA's tile
// of keys: the K/V pointers, the visibility band and the (GQA query head, Q tile) work items
// that can see those keys (Q tiles that see none of them are skipped).
#pragma once
#include "flash_common.cuh"

namespace fdjl {

template <typename T> struct BwdKeyTile {
  const T *k, *v;  // row 0 of this (batch, kv head)
  int hd, n0, group;
  Visibility vis;
  int m_begin;     // first Q tile (of BR rows) that can see a key of this tile
  int per_head;    // Q tiles per query head from m_begin on
  int total;       // work items: per_head for each of the group's query heads

  __device__ __forceinline__ BwdKeyTile(const FlashBwdParams& p, int BCK, int BR) : vis(p) {
    const int hk = blockIdx.y, b = blockIdx.z;
    group = p.heads_q / p.heads_kv;
    hd = p.head_dim;
    n0 = blockIdx.x * BCK;
    k = StridedView<const T>(p.k).at(b, hk);
    v = StridedView<const T>(p.v).at(b, hk);
    const TileRange qt = vis.query_tiles(n0, BCK, BR);
    m_begin = qt.begin;
    per_head = qt.size();
    total = per_head * group;
  }

  // work item it: query head (of the batch) and first row of its Q tile
  __device__ __forceinline__ int head(int hk, int it) const { return hk * group + it / per_head; }
  __device__ __forceinline__ int row0(int it, int BR) const { return (m_begin + it % per_head) * BR; }
};

}  // namespace fdjl
