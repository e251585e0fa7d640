// flash_fwd_tile.cuh - what every forward kernel (mma.sync and wgmma) knows about its CTA's tile
// of query rows: the (batch, head) pointers, the number of K/V tiles it must visit (causal
// tiles past the diagonal are skipped) and the output of a tile whose rows see no key at all.
#pragma once
#include "flash_common.cuh"

namespace fdjl {

template <typename T> struct FwdTile {
  const T *q, *k, *v;
  T* o;
  float* lse;   // this (batch, head)'s LSE row
  int Nq, Nk, hd, m0;
  int offset;   // causal: row r sees keys <= r + offset (bottom-right alignment: Nk - Nq)
  bool causal;

  __device__ __forceinline__ FwdTile(const FlashFwdParams& p, int mb, int BR) {
    const int h = blockIdx.y, b = blockIdx.z;
    const int hk = h / (p.heads_q / p.heads_kv);  // GQA / MQA: the K/V head of query head h
    Nq = p.seqlen_q;
    Nk = p.seqlen_k;
    hd = p.head_dim;
    m0 = mb * BR;
    causal = p.mask != FLASH_MASK_NONE;
    offset = (p.mask == FLASH_MASK_CAUSAL_BOTTOM_RIGHT) ? Nk - Nq : 0;
    q = (const T*)p.q + (int64_t)b * p.q_batch_stride + (int64_t)h * p.q_head_stride;
    k = (const T*)p.k + (int64_t)b * p.k_batch_stride + (int64_t)hk * p.k_head_stride;
    v = (const T*)p.v + (int64_t)b * p.v_batch_stride + (int64_t)hk * p.v_head_stride;
    o = (T*)p.o + (int64_t)b * p.o_batch_stride + (int64_t)h * p.o_head_stride;
    lse = p.lse + ((int64_t)b * p.heads_q + h) * Nq;
  }

  // K/V tiles of BC keys that rows m0 .. m0+BR-1 need (causal: later tiles are fully masked)
  __device__ __forceinline__ int n_tiles(int BR, int BC) const {
    int n = (Nk + BC - 1) / BC;
    if (causal) {
      const int lim = m0 + BR + offset;  // keys < lim can be visible to some row of the tile
      n = min(n, lim <= 0 ? 0 : (lim + BC - 1) / BC);
    }
    return n;
  }

  // tile j has keys past Nk, or keys past the diagonal of its first row: it must be masked
  __device__ __forceinline__ bool needs_mask(int j, int BC) const {
    const int n0 = j * BC;
    return (n0 + BC > Nk) || (causal && n0 + BC - 1 > m0 + offset);
  }

  // no row of the tile sees any key: O = 0, LSE = -inf (what the online softmax would give)
  template <int D, int BR, int NT>
  __device__ __forceinline__ void write_empty(int64_t o_row_stride, int tid) const {
    constexpr int ND = D / 8;
    for (int i = tid; i < BR * ND; i += NT) {
      const int r = i / ND, c = i % ND;
      if (m0 + r < Nq && c * 8 < hd)
        *reinterpret_cast<uint4*>(o + (int64_t)(m0 + r) * o_row_stride + c * 8) = make_uint4(0, 0, 0, 0);
    }
    for (int r = tid; r < BR; r += NT)
      if (m0 + r < Nq) lse[m0 + r] = -INFINITY;
  }
};

}  // namespace fdjl
