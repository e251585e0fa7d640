// flash_fwd_sm90.cuh - FlashAttention-2 forward on Hopper warpgroup MMAs (sm_90a only).
//
// Same algorithm and contract as fwd_kernel (flash_fwd.cuh), built for the tensor cores of the
// H100: a CTA of NWG warpgroups owns BR = 64 * NWG query rows (64 rows per warpgroup) of one
// (batch, head); K/V tiles of BC keys stream through two shared-memory stages with cp.async.
// Per tile and warpgroup:
//   S[64 x BC] = Q K^T   wgmma, both operands read from shared memory (K-major)
//   online softmax on S in registers (exp2, running max and sum, rescale of O)
//   O[64 x D] += P V     wgmma, P from registers, V read transposed (MN-major) from shared memory
// The warpgroups of a CTA share the K/V tiles. The barriers of each tile keep them in step, so
// both compute their softmax at about the same time (no ping-pong scheduling yet, PERF_LOG.md).
// Unlike mma.sync, the B operands never pass through registers, so the O accumulator, S and
// P of a 64-row slice fit without spills at D = 128 and BC = 128.
#pragma once
#include "flash_wgmma.cuh"

namespace fdjl {

// NWG warpgroups per CTA, BC keys per K/V tile, MINB CTAs per SM asked of the register
// allocator, NS shared-memory stages of K/V
template <int NWG_, int BC_, int MINB_, int NS_> struct FwdWgC {
  static constexpr int NWG = NWG_, BC = BC_, MINB = MINB_, NS = NS_;
};
#ifndef FDJL_FWDWG64
#define FDJL_FWDWG64 2, 64, 2, 3  // 2 CTAs per SM (<= 128 registers)
#endif
#ifndef FDJL_FWDWG128
#define FDJL_FWDWG128 2, 128, 1, 2
#endif
template <int D> struct FwdWgCfg;
template <> struct FwdWgCfg<64> : FwdWgC<FDJL_FWDWG64> {};
template <> struct FwdWgCfg<128> : FwdWgC<FDJL_FWDWG128> {};

// true where the forward of head dim D runs on wgmma (the sm_90a pass, D = 64 and 128)
template <int D> struct FwdOnWgmma { static constexpr bool value = FDJL_WGMMA && (D == 64 || D == 128); };

template <int D> struct FwdWgShape {
  static constexpr int NWG = FwdWgCfg<D>::NWG, BC = FwdWgCfg<D>::BC;
  static constexpr int BR = 64 * NWG, THREADS = 128 * NWG, MINB = FwdWgCfg<D>::MINB, NS = FwdWgCfg<D>::NS;
  static constexpr int Q_BYTES = BR * D * 2, KV_BYTES = BC * D * 2;
  // + 1 KiB: the kernel aligns its tiles to 1024 bytes (the swizzle pattern repeats every 1 KiB)
  static constexpr int SMEM = Q_BYTES + 2 * NS * KV_BYTES + 1024;
};

template <typename T, int D>
__device__ __forceinline__ void fwd_wgmma_kernel(const FlashFwdParams& p) {
#if FDJL_WGMMA
  using S_ = FwdWgShape<D>;
  using M = Mma<T>;
  constexpr int BC = S_::BC, BR = S_::BR, NT = S_::THREADS, NS = S_::NS;
  constexpr int KC = D / 16;   // k16 steps of S = Q K^T
  constexpr int NB = BC / 8;   // n8 column tiles of S
  constexpr int ND = D / 8;    // n8 column tiles of O
  constexpr int SR = BC / 2, OR = D / 2;  // accumulator registers of S and O per thread

  extern __shared__ __align__(128) unsigned char smem[];  // 1 KiB alignment is done by hand
  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const bool causal = p.mask != FLASH_MASK_NONE;
  // causal: the last row tiles have the most keys; start them first so the tail is short
  const int mb = causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
  const int h = blockIdx.y, b = blockIdx.z;
  const int hk = h / (p.heads_q / p.heads_kv);
  const int Nq = p.seqlen_q, Nk = p.seqlen_k, hd = p.head_dim;
  const int m0 = mb * BR;
  const int offset = (p.mask == FLASH_MASK_CAUSAL_BOTTOM_RIGHT) ? Nk - Nq : 0;

  const T* qg = (const T*)p.q + (int64_t)b * p.q_batch_stride + (int64_t)h * p.q_head_stride;
  const T* kg = (const T*)p.k + (int64_t)b * p.k_batch_stride + (int64_t)hk * p.k_head_stride;
  const T* vg = (const T*)p.v + (int64_t)b * p.v_batch_stride + (int64_t)hk * p.v_head_stride;
  T* og = (T*)p.o + (int64_t)b * p.o_batch_stride + (int64_t)h * p.o_head_stride;
  float* lseg = p.lse + ((int64_t)b * p.heads_q + h) * Nq;

  int n_tiles = (Nk + BC - 1) / BC;
  if (causal) {
    const int lim = m0 + BR + offset;  // keys < lim can be visible to some row of the tile
    n_tiles = min(n_tiles, lim <= 0 ? 0 : (lim + BC - 1) / BC);
  }
  if (n_tiles == 0) {  // no row of this tile sees any key: O = 0, LSE = -inf
    for (int i = tid; i < BR * ND; i += NT) {
      const int r = i / ND, c = i % ND;
      if (m0 + r < Nq && c * 8 < hd)
        *reinterpret_cast<uint4*>(og + (int64_t)(m0 + r) * p.o_row_stride + c * 8) = make_uint4(0, 0, 0, 0);
    }
    for (int r = tid; r < BR; r += NT)
      if (m0 + r < Nq) lseg[m0 + r] = -INFINITY;
    return;
  }

  const uint32_t sQ = (smem_u32(smem) + 1023u) & ~1023u;
  const uint32_t sK0 = sQ + S_::Q_BYTES;
  const uint32_t sV0 = sK0 + NS * S_::KV_BYTES;
  auto load_kv = [&](int j, int stage) {
    const int nn = j * BC;
    load_tile_sw128<D, BC, NT>(sK0 + stage * S_::KV_BYTES, kg, p.k_row_stride, nn, Nk - nn, hd, tid);
    load_tile_sw128<D, BC, NT>(sV0 + stage * S_::KV_BYTES, vg, p.v_row_stride, nn, Nk - nn, hd, tid);
  };

  // NS >= 3: a ring, tiles j+1 .. j+NS-1 in flight while tile j is used; one cp.async group
  // per tile (empty past the last tile, so that the group count stays uniform), Q with tile 0
  load_tile_sw128<D, BR, NT>(sQ, qg, p.q_row_stride, m0, Nq - m0, hd, tid);
#pragma unroll
  for (int i = 0; i < NS - 1; ++i) {
    if (i < n_tiles) load_kv(i, i);
    cp_async_commit();
  }

  float o[OR];
#pragma unroll
  for (int i = 0; i < OR; ++i) o[i] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  const int wrow = wg * 64 + warp * 16 + g;  // this thread's rows in the tile: wrow, wrow + 8
  const uint32_t sQw = sQ + wg * 64 * 128;   // this warpgroup's 64 rows of every Q column block
  const float sl2 = p.scale_log2;

  // (Measured: overlapping the softmax of tile j+1 with P_j V_j inside a warpgroup, as
  // FlashAttention-3 does, was 8-20% SLOWER here than this plain loop; see PERF_LOG.md.)
  int st = 0;  // stage of tile j
  for (int j = 0; j < n_tiles; ++j) {
    if constexpr (NS == 2) {
      // two stages: prefetch tile j+1 first, then wait for tile j, and a barrier at the end of
      // the iteration (at 1 CTA/SM this measured faster than the ring below with 2 or 3 stages)
      st = j & 1;
      if (j + 1 < n_tiles) {
        load_kv(j + 1, st ^ 1);
        cp_async_commit();
        cp_async_wait<1>();
      } else {
        cp_async_wait<0>();
      }
      fence_proxy_async();  // this thread's cp.async writes -> visible to the async (wgmma) proxy
      __syncthreads();
    } else {
      cp_async_wait<NS - 2>();  // tile j has landed (this thread's copies)
      fence_proxy_async();      // ... and is visible to the async (wgmma) proxy
      __syncthreads();          // everyone's copies landed; everyone is done with tile j-1,
      const int jn = j + NS - 1;  // so tile j-1's stage takes tile j+NS-1: one barrier per tile
      if (jn < n_tiles) load_kv(jn, st == 0 ? NS - 1 : st - 1);
      cp_async_commit();
    }
    const uint32_t sK = sK0 + st * S_::KV_BYTES;
    const uint32_t sV = sV0 + st * S_::KV_BYTES;
    if constexpr (NS != 2) st = (st + 1 == NS) ? 0 : st + 1;

    // S = Q K^T (the first k step overwrites S)
    float s[SR];
    wg_fence();
#pragma unroll
    for (int kc = 0; kc < KC; ++kc) {
      const uint32_t koff = (kc & 3) * 32;  // k16 step inside a 64-column block
      const uint64_t da = wg_desc(sQw + (kc >> 2) * BR * 128 + koff, 16, 1024);
      const uint64_t db = wg_desc(sK + (kc >> 2) * BC * 128 + koff, 16, 1024);
      Wgmma<T, BC>::template ss<0, 0>(s, da, db, kc > 0);
    }
    wg_commit();
    wg_wait<0>();
    wg_pin<SR>(s);

    // scale into the log2 domain, mask the tile's invalid / causal entries
    const int n0 = j * BC;
    const bool need_mask = (n0 + BC > Nk) || (causal && n0 + BC - 1 > m0 + offset);
#pragma unroll
    for (int n = 0; n < NB; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float x = s[4 * n + e] * sl2;
        if (need_mask) {
          const int row = m0 + wrow + (e >> 1) * 8;
          const int col = n0 + n * 8 + 2 * t4 + (e & 1);
          if (col >= Nk || (causal && col > row + offset)) x = -INFINITY;
        }
        s[4 * n + e] = x;
      }

    // online softmax: this thread holds rows wrow (r = 0) and wrow + 8 (r = 1)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < NB; ++n) mx = fmaxf(mx, fmaxf(s[4 * n + 2 * r], s[4 * n + 2 * r + 1]));
      mx = quad_max(mx);
      const float mnew = fmaxf(mrow[r], mx);
      const float mu = (mnew == -INFINITY) ? 0.f : mnew;  // all masked so far: avoid inf - inf
      const float alpha = ex2(mrow[r] - mu);
      mrow[r] = mnew;
      float sum = 0.f;
#pragma unroll
      for (int n = 0; n < NB; ++n) {
        const float p0 = ex2(s[4 * n + 2 * r] - mu), p1 = ex2(s[4 * n + 2 * r + 1] - mu);
        s[4 * n + 2 * r] = p0;
        s[4 * n + 2 * r + 1] = p1;
        sum += p0 + p1;
      }
      lrow[r] = lrow[r] * alpha + sum;
#pragma unroll
      for (int d = 0; d < ND; ++d) {
        o[4 * d + 2 * r] *= alpha;
        o[4 * d + 2 * r + 1] *= alpha;
      }
    }

    // O += P V: P packed to T as the register A operand (k16 step kk = keys 16kk .. 16kk+15)
    uint32_t pa[BC / 16][4];
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk) {
      pa[kk][0] = M::pack(s[8 * kk + 0], s[8 * kk + 1]);
      pa[kk][1] = M::pack(s[8 * kk + 2], s[8 * kk + 3]);
      pa[kk][2] = M::pack(s[8 * kk + 4], s[8 * kk + 5]);
      pa[kk][3] = M::pack(s[8 * kk + 6], s[8 * kk + 7]);
    }
    wg_pin<OR>(o);
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk)  // V read transposed: its rows are the k dimension
      Wgmma<T, D>::template rs<1>(o, pa[kk], wg_desc(sV + kk * 2048, BC * 128, 1024), 1);
    wg_commit();
    wg_wait<0>();
    wg_pin<OR>(o);
    if constexpr (NS == 2) __syncthreads();  // stage st is overwritten by the next prefetch
  }

  // epilogue: normalise, write O (4-byte stores, 16 contiguous bytes per quad) and the LSE
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float l = quad_sum(lrow[r]);
    const float inv = l > 0.f ? 1.f / l : 0.f;
    const int row = m0 + wrow + 8 * r;
    if (row < Nq) {
      T* orow = og + (int64_t)row * p.o_row_stride;
#pragma unroll
      for (int d = 0; d < ND; ++d) {
        const int col = d * 8 + 2 * t4;
        if (col < hd)
          *reinterpret_cast<uint32_t*>(orow + col) = M::pack(o[4 * d + 2 * r] * inv, o[4 * d + 2 * r + 1] * inv);
      }
      if (t4 == 0) lseg[row] = l > 0.f ? (mrow[r] + __log2f(l)) * kLn2 : -INFINITY;
    }
  }
#endif
}

}  // namespace fdjl
