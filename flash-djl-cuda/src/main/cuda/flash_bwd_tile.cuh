// flash_bwd_tile.cuh - what both dK/dV kernels (mma.sync and wgmma) know about their CTA's tile
// of keys: the K/V pointers and the (GQA query head, Q tile) work items that can see those keys
// (causal: Q tiles entirely above the diagonal are skipped).
#pragma once
#include "flash_common.cuh"

namespace fdjl {

template <typename T> struct BwdKeyTile {
  const T *k, *v;
  int Nq, Nk, hd, n0, group;
  int offset;    // causal: row r sees keys <= r + offset (bottom-right alignment: Nk - Nq)
  bool causal;
  int m_begin;   // first Q tile (of BR rows) that can see a key of this tile
  int per_head;  // Q tiles per query head from m_begin on
  int total;     // work items: per_head for each of the group's query heads

  __device__ __forceinline__ BwdKeyTile(const FlashBwdParams& p, int BCK, int BR) {
    const int hk = blockIdx.y, b = blockIdx.z;
    group = p.heads_q / p.heads_kv;
    Nq = p.seqlen_q;
    Nk = p.seqlen_k;
    hd = p.head_dim;
    n0 = blockIdx.x * BCK;
    causal = p.mask != FLASH_MASK_NONE;
    offset = (p.mask == FLASH_MASK_CAUSAL_BOTTOM_RIGHT) ? Nk - Nq : 0;
    k = (const T*)p.k + (int64_t)b * p.k_batch_stride + (int64_t)hk * p.k_head_stride;
    v = (const T*)p.v + (int64_t)b * p.v_batch_stride + (int64_t)hk * p.v_head_stride;
    // Q tiles that can see keys of this tile: rows i with i + offset >= n0
    const int m_tiles = (Nq + BR - 1) / BR;
    m_begin = 0;
    if (causal) {
      const int first_row = n0 - offset;
      m_begin = first_row <= 0 ? 0 : (first_row > Nq - 1 ? m_tiles : first_row / BR);
    }
    per_head = m_tiles - m_begin;
    total = per_head * group;
  }
};

}  // namespace fdjl
