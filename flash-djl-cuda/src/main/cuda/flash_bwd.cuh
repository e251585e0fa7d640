// flash_bwd.cuh - FlashAttention-2 backward for fp16 / bf16 on tensor cores (mma.sync).
//
// pre:     delta = rowsum(dO * O) (fp32), and dq_accum zeroed (non-deterministic mode).
// dkdv:    one CTA per (K/V tile of BCK keys, kv head, batch). It loops over every q head of the
//          GQA group and every Q tile that can see its keys (fully masked causal tiles are
//          skipped), recomputing the probabilities from the saved LSE:
//            S^T = K Q^T, P^T = exp2(S^T * scale_log2 - lse * log2e)
//            dV += P^T dO, dP^T = V dO^T, dS^T = P^T * (dP^T - delta), dK += dS^T Q
//          dK and dV stay in fp32 registers for the whole loop and are written once (dK * scale).
//          Warp w owns 16 keys (w / SPLIT) and D/SPLIT columns of dK, dV (w % SPLIT).
//          Non-deterministic mode: dS goes through shared memory and dQ_tile = dS K is added
//          to dq_accum with fp32 atomics (unscaled; convert multiplies by scale).
// dq:      deterministic mode: one CTA per Q tile, loop over K/V tiles, dQ in registers, no
//          atomics, written once as T (times scale).
// convert: dq = dq_accum * scale as T.
// A row with LSE = -inf (it saw no key) uses lse*log2e = +inf, so P = 0 and it contributes
// nothing (no NaN).
#pragma once
#include "flash_common.cuh"
#include "flash_bwd_tile.cuh"
#include "flash_bwd_sm90.cuh"

namespace fdjl {

// dkdv: KG key groups of 16 (BCK = 16*KG keys), SPLIT warps per key group (head-dim split),
// BR query rows per inner tile, ST shared-memory stages for Q/dO.
// dq: QW warps (16 query rows each), QBC keys per K/V tile (two stages).
template <int KG_, int SPLIT_, int BR_, int ST_, int QW_, int QBC_> struct BwdC {
  static constexpr int KG = KG_, SPLIT = SPLIT_, BR = BR_, ST = ST_, QW = QW_, QBC = QBC_;
};
#ifndef FDJL_BWD32
#define FDJL_BWD32 8, 1, 64, 2, 4, 64
#endif
#ifndef FDJL_BWD64
#define FDJL_BWD64 8, 1, 64, 2, 4, 64
#endif
#ifndef FDJL_BWD96
#define FDJL_BWD96 4, 1, 64, 2, 4, 64
#endif
#ifndef FDJL_BWD128
#if FDJL_SM90
#define FDJL_BWD128 8, 1, 64, 2, 4, 64
#else
#define FDJL_BWD128 4, 1, 64, 1, 4, 64
#endif
#endif
#ifndef FDJL_BWD256
#define FDJL_BWD256 2, 2, 32, 1, 2, 32
#endif
template <int D> struct BwdCfg;
template <> struct BwdCfg<32> : BwdC<FDJL_BWD32> {};
template <> struct BwdCfg<64> : BwdC<FDJL_BWD64> {};
template <> struct BwdCfg<96> : BwdC<FDJL_BWD96> {};
template <> struct BwdCfg<128> : BwdC<FDJL_BWD128> {};
template <> struct BwdCfg<256> : BwdC<FDJL_BWD256> {};

template <int D> struct DkdvMmaShape {
  using C = BwdCfg<D>;
  static constexpr int KG = C::KG, SPLIT = C::SPLIT, BR = C::BR, ST = C::ST;
  static constexpr int NW = KG * SPLIT, THREADS = 32 * NW, BCK = 16 * KG;
  static constexpr int SMEM = 2 * Lay<D>::bytes(BCK) + ST * 2 * Lay<D>::bytes(BR) +
                              Lay<BR>::bytes(BCK) + ST * 2 * BR * 4;
};
template <int D> struct DqShape {
  static constexpr int W = BwdCfg<D>::QW, BC = BwdCfg<D>::QBC;
  static constexpr int BR = 16 * W, THREADS = 32 * W;
  static constexpr int SMEM = 2 * Lay<D>::bytes(BR) + 4 * Lay<D>::bytes(BC);
};
struct PreShape { static constexpr int THREADS = 128, ROWS = 16, SMEM = 0; };
struct ConvShape { static constexpr int THREADS = 128, ROWS = 16, SMEM = 0; };

// ---------------------------------------------------------------- pre: delta, zero dq_accum
template <typename T, int D>
__device__ __forceinline__ void bwd_pre_kernel(const FlashBwdParams& p) {
  using M = Mma<T>;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.y, b = blockIdx.z, Nq = p.seqlen_q, hd = p.head_dim;
  const T* og = (const T*)p.o + (int64_t)b * p.o_batch_stride + (int64_t)h * p.o_head_stride;
  const T* dog = (const T*)p.dout + (int64_t)b * p.do_batch_stride + (int64_t)h * p.do_head_stride;
  const int64_t rowbase = ((int64_t)b * p.heads_q + h) * Nq;
  constexpr int RPW = PreShape::ROWS / (PreShape::THREADS / 32);
#pragma unroll
  for (int rr = 0; rr < RPW; ++rr) {
    const int row = blockIdx.x * PreShape::ROWS + warp * RPW + rr;
    if (row >= Nq) break;
    float sum = 0.f;
    if (lane * 8 < hd) {  // D <= 256: one 8-element chunk per lane
      const uint4 o4 = *reinterpret_cast<const uint4*>(og + (int64_t)row * p.o_row_stride + lane * 8);
      const uint4 d4 = *reinterpret_cast<const uint4*>(dog + (int64_t)row * p.do_row_stride + lane * 8);
      const uint32_t* ou = reinterpret_cast<const uint32_t*>(&o4);
      const uint32_t* du = reinterpret_cast<const uint32_t*>(&d4);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float2 a = M::unpack(ou[i]), c = M::unpack(du[i]);
        sum += a.x * c.x + a.y * c.y;
      }
    }
    sum = warp_sum(sum);
    if (lane == 0) p.delta[rowbase + row] = sum;
    if (!p.deterministic && p.dq_accum != nullptr) {
      float4* acc = reinterpret_cast<float4*>(p.dq_accum + (rowbase + row) * D);
      for (int c = lane; c < D / 4; c += 32) acc[c] = make_float4(0.f, 0.f, 0.f, 0.f);
    }
  }
}

// ---------------------------------------------------------------- dkdv
template <typename T, int D>
__device__ __forceinline__ void bwd_dkdv_mma_kernel(const FlashBwdParams& p) {
  using S_ = DkdvMmaShape<D>;
  using L = Lay<D>;
  using M = Mma<T>;
  constexpr int SPLIT = S_::SPLIT, BR = S_::BR, ST = S_::ST, NW = S_::NW, NT = S_::THREADS, BCK = S_::BCK;
  using LS = Lay<BR>;               // dS^T tile: BCK rows (keys) x BR cols (queries)
  constexpr int KC = D / 16;        // k16 steps over the head dim
  constexpr int NBR = BR / 8;       // n8 tiles over the query rows
  constexpr int DW = D / SPLIT;     // dK/dV columns owned by one warp
  constexpr int NDW = DW / 8;
  constexpr int WM = BR / 16;       // dQ tile: WM x WN warps
  constexpr int WN = NW / WM;
  constexpr int DQW = D / WN;
  constexpr int NDQ = DQW / 8;
  static_assert(NW % WM == 0 && DQW % 16 == 0 && DW % 16 == 0, "bad bwd config");

  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int kg = warp / SPLIT, sp = warp % SPLIT;
  const int hk = blockIdx.y, b = blockIdx.z;
  const BwdKeyTile<T> kt(p, BCK, BR);
  const int group = kt.group, Nq = kt.Nq, Nk = kt.Nk, hd = kt.hd, n0 = kt.n0, offset = kt.offset;
  const bool causal = kt.causal;
  const T *kg_ = kt.k, *vg_ = kt.v;
  const int m_begin = kt.m_begin, per_head = kt.per_head, total = kt.total;

  const uint32_t sK = smem_u32(smem);
  const uint32_t sV = sK + L::bytes(BCK);
  const uint32_t sQ0 = sV + L::bytes(BCK);
  const uint32_t sdO0 = sQ0 + ST * L::bytes(BR);
  const uint32_t sdS = sdO0 + ST * L::bytes(BR);
  unsigned char* sdSp = smem + (sdS - sK);
  float* sLse = reinterpret_cast<float*>(smem + (sdS - sK) + LS::bytes(BCK));
  float* sDel = sLse + ST * BR;

  auto issue = [&](int it, int stg) {
    const int hh = hk * group + it / per_head;
    const int m0 = (m_begin + it % per_head) * BR;
    const T* qg = (const T*)p.q + (int64_t)b * p.q_batch_stride + (int64_t)hh * p.q_head_stride;
    const T* dog = (const T*)p.dout + (int64_t)b * p.do_batch_stride + (int64_t)hh * p.do_head_stride;
    load_tile<D, BR, NT>(sQ0 + stg * L::bytes(BR), qg, p.q_row_stride, m0, Nq - m0, hd, tid);
    load_tile<D, BR, NT>(sdO0 + stg * L::bytes(BR), dog, p.do_row_stride, m0, Nq - m0, hd, tid);
    for (int r = tid; r < BR; r += NT) {
      float l2 = INFINITY, dl = 0.f;
      if (m0 + r < Nq) {
        const int64_t idx = ((int64_t)b * p.heads_q + hh) * Nq + m0 + r;
        const float l = p.lse[idx];
        l2 = (l == -INFINITY) ? INFINITY : l * kLog2e;
        dl = p.delta[idx];
      }
      sLse[stg * BR + r] = l2;
      sDel[stg * BR + r] = dl;
    }
  };

  float dk[NDW][4], dv[NDW][4];
#pragma unroll
  for (int d = 0; d < NDW; ++d)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[d][e] = dv[d][e] = 0.f;

  if (total > 0) {
    load_tile<D, BCK, NT>(sK, kg_, p.k_row_stride, n0, Nk - n0, hd, tid);
    load_tile<D, BCK, NT>(sV, vg_, p.v_row_stride, n0, Nk - n0, hd, tid);
    issue(0, 0);
    cp_async_commit();
  }
  const float sl2 = p.scale_log2;

  for (int it = 0; it < total; ++it) {
    const int stg = (ST == 2) ? (it & 1) : 0;
    if (ST == 2 && it + 1 < total) {
      issue(it + 1, stg ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const int hh = hk * group + it / per_head;
    const int m0 = (m_begin + it % per_head) * BR;
    const uint32_t sQ = sQ0 + stg * L::bytes(BR);
    const uint32_t sdO = sdO0 + stg * L::bytes(BR);
    const float* lse2 = sLse + stg * BR;
    const float* del = sDel + stg * BR;

    // S^T = K_w Q^T   (16 keys x BR queries)
    float sT[NBR][4];
#pragma unroll
    for (int n = 0; n < NBR; ++n) sT[n][0] = sT[n][1] = sT[n][2] = sT[n][3] = 0.f;
#pragma unroll
    for (int kc = 0; kc < KC; ++kc) {
      uint32_t a[4];
      ldsm_x4(a, sK + L::chunk(kg * 16 + (lane & 15), 2 * kc + (lane >> 4)) * 16);
#pragma unroll
      for (int np = 0; np < NBR / 2; ++np) {
        uint32_t bb[4];
        ldsm_x4(bb, sQ + L::chunk(np * 16 + (lane & 7) + ((lane >> 4) << 3), 2 * kc + ((lane >> 3) & 1)) * 16);
        M::mma(sT[2 * np], a, bb);
        M::mma(sT[2 * np + 1], a, bb + 2);
      }
    }
    // P^T
    const bool need_mask = (n0 + BCK > Nk) || (causal && n0 + BCK - 1 > m0 + offset);
#pragma unroll
    for (int n = 0; n < NBR; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int q = n * 8 + 2 * t4 + (e & 1);
        float pv = ex2(sT[n][e] * sl2 - lse2[q]);
        if (need_mask) {
          const int key = n0 + kg * 16 + g + (e >> 1) * 8;
          if (key >= Nk || (causal && key > m0 + q + offset)) pv = 0.f;
        }
        sT[n][e] = pv;
      }
    // dV += P^T dO
#pragma unroll
    for (int kk = 0; kk < BR / 16; ++kk) {
      uint32_t a[4];
      a[0] = M::pack(sT[2 * kk][0], sT[2 * kk][1]);
      a[1] = M::pack(sT[2 * kk][2], sT[2 * kk][3]);
      a[2] = M::pack(sT[2 * kk + 1][0], sT[2 * kk + 1][1]);
      a[3] = M::pack(sT[2 * kk + 1][2], sT[2 * kk + 1][3]);
#pragma unroll
      for (int dp = 0; dp < NDW / 2; ++dp) {
        uint32_t bb[4];
        ldsm_x4_t(bb, sdO + L::chunk(kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, sp * (DW / 8) + 2 * dp + (lane >> 4)) * 16);
        M::mma(dv[2 * dp], a, bb);
        M::mma(dv[2 * dp + 1], a, bb + 2);
      }
    }
    // dP^T = V_w dO^T
    float dpT[NBR][4];
#pragma unroll
    for (int n = 0; n < NBR; ++n) dpT[n][0] = dpT[n][1] = dpT[n][2] = dpT[n][3] = 0.f;
#pragma unroll
    for (int kc = 0; kc < KC; ++kc) {
      uint32_t a[4];
      ldsm_x4(a, sV + L::chunk(kg * 16 + (lane & 15), 2 * kc + (lane >> 4)) * 16);
#pragma unroll
      for (int np = 0; np < NBR / 2; ++np) {
        uint32_t bb[4];
        ldsm_x4(bb, sdO + L::chunk(np * 16 + (lane & 7) + ((lane >> 4) << 3), 2 * kc + ((lane >> 3) & 1)) * 16);
        M::mma(dpT[2 * np], a, bb);
        M::mma(dpT[2 * np + 1], a, bb + 2);
      }
    }
    // dS^T = P^T * (dP^T - delta)
#pragma unroll
    for (int n = 0; n < NBR; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) dpT[n][e] = sT[n][e] * (dpT[n][e] - del[n * 8 + 2 * t4 + (e & 1)]);
    if (!p.deterministic && sp == 0) {  // dS^T -> shared memory for dQ
#pragma unroll
      for (int n = 0; n < NBR; ++n)
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const int row = kg * 16 + g + 8 * r, col = n * 8 + 2 * t4;
          *reinterpret_cast<uint32_t*>(sdSp + LS::chunk(row, col >> 3) * 16 + (col & 7) * 2) =
              M::pack(dpT[n][2 * r], dpT[n][2 * r + 1]);
        }
    }
    // dK += dS^T Q
#pragma unroll
    for (int kk = 0; kk < BR / 16; ++kk) {
      uint32_t a[4];
      a[0] = M::pack(dpT[2 * kk][0], dpT[2 * kk][1]);
      a[1] = M::pack(dpT[2 * kk][2], dpT[2 * kk][3]);
      a[2] = M::pack(dpT[2 * kk + 1][0], dpT[2 * kk + 1][1]);
      a[3] = M::pack(dpT[2 * kk + 1][2], dpT[2 * kk + 1][3]);
#pragma unroll
      for (int dp = 0; dp < NDW / 2; ++dp) {
        uint32_t bb[4];
        ldsm_x4_t(bb, sQ + L::chunk(kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, sp * (DW / 8) + 2 * dp + (lane >> 4)) * 16);
        M::mma(dk[2 * dp], a, bb);
        M::mma(dk[2 * dp + 1], a, bb + 2);
      }
    }
    if (!p.deterministic) {
      __syncthreads();  // dS^T complete
      const int wm = warp % WM, wn = warp / WM;
      float dq[NDQ][4];
#pragma unroll
      for (int d = 0; d < NDQ; ++d) dq[d][0] = dq[d][1] = dq[d][2] = dq[d][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < BCK / 16; ++kk) {
        uint32_t a[4];
        ldsm_x4_t(a, sdS + LS::chunk(kk * 16 + (lane & 7) + ((lane >> 4) << 3), wm * 2 + ((lane >> 3) & 1)) * 16);
#pragma unroll
        for (int dp = 0; dp < NDQ / 2; ++dp) {
          uint32_t bb[4];
          ldsm_x4_t(bb, sK + L::chunk(kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, wn * (DQW / 8) + 2 * dp + (lane >> 4)) * 16);
          M::mma(dq[2 * dp], a, bb);
          M::mma(dq[2 * dp + 1], a, bb + 2);
        }
      }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = m0 + wm * 16 + g + 8 * r;
        if (row < Nq) {
          float* dst = p.dq_accum + (((int64_t)b * p.heads_q + hh) * Nq + row) * D + wn * DQW + 2 * t4;
#pragma unroll
          for (int d = 0; d < NDQ; ++d) {
            if (wn * DQW + d * 8 < hd) {
              red_add2<(D <= 128)>(dst + d * 8, dq[d][2 * r], dq[d][2 * r + 1]);
            }
          }
        }
      }
    }
    __syncthreads();  // stage / dS^T reused next iteration
    if (ST == 1 && it + 1 < total) {
      issue(it + 1, 0);
      cp_async_commit();
    }
  }

  // write dK * scale and dV once
  T* dkg = (T*)p.dk + (int64_t)b * p.dk_batch_stride + (int64_t)hk * p.dk_head_stride;
  T* dvg = (T*)p.dv + (int64_t)b * p.dv_batch_stride + (int64_t)hk * p.dv_head_stride;
  const float scale = p.scale;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int key = n0 + kg * 16 + g + 8 * r;
    if (key < Nk) {
#pragma unroll
      for (int d = 0; d < NDW; ++d) {
        const int col = sp * DW + d * 8 + 2 * t4;
        if (col < hd) {
          *reinterpret_cast<uint32_t*>(dkg + (int64_t)key * p.dk_row_stride + col) =
              M::pack(dk[d][2 * r] * scale, dk[d][2 * r + 1] * scale);
          *reinterpret_cast<uint32_t*>(dvg + (int64_t)key * p.dv_row_stride + col) =
              M::pack(dv[d][2 * r], dv[d][2 * r + 1]);
        }
      }
    }
  }
}

// the launch shape of flash_bwd_dkdv_<dt>_hd<D> in the pass being compiled
template <int D, bool WG = DkdvOnWgmma<D>::value> struct DkdvShape : DkdvMmaShape<D> {};
template <int D> struct DkdvShape<D, true> : DkdvWgShape<D> {};

template <typename T, int D>
__device__ __forceinline__ void bwd_dkdv_kernel(const FlashBwdParams& p) {
  if constexpr (DkdvOnWgmma<D>::value) bwd_dkdv_wgmma_kernel<T, D>(p);
  else bwd_dkdv_mma_kernel<T, D>(p);
}

// ---------------------------------------------------------------- dq (deterministic)
template <typename T, int D>
__device__ __forceinline__ void bwd_dq_kernel(const FlashBwdParams& p) {
  using S_ = DqShape<D>;
  using L = Lay<D>;
  using M = Mma<T>;
  constexpr int BC = S_::BC, BR = S_::BR, NT = S_::THREADS;
  constexpr int KC = D / 16, NB = BC / 8, ND = D / 8;

  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int mb = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int hk = h / (p.heads_q / p.heads_kv);
  const int Nq = p.seqlen_q, Nk = p.seqlen_k, hd = p.head_dim;
  const int m0 = mb * BR;
  const bool causal = p.mask != FLASH_MASK_NONE;
  const int offset = (p.mask == FLASH_MASK_CAUSAL_BOTTOM_RIGHT) ? Nk - Nq : 0;

  const T* qg = (const T*)p.q + (int64_t)b * p.q_batch_stride + (int64_t)h * p.q_head_stride;
  const T* dog = (const T*)p.dout + (int64_t)b * p.do_batch_stride + (int64_t)h * p.do_head_stride;
  const T* kg = (const T*)p.k + (int64_t)b * p.k_batch_stride + (int64_t)hk * p.k_head_stride;
  const T* vg = (const T*)p.v + (int64_t)b * p.v_batch_stride + (int64_t)hk * p.v_head_stride;
  T* dqg = (T*)p.dq + (int64_t)b * p.dq_batch_stride + (int64_t)h * p.dq_head_stride;

  int n_tiles = (Nk + BC - 1) / BC;
  if (causal) {
    const int lim = m0 + BR + offset;
    n_tiles = min(n_tiles, lim <= 0 ? 0 : (lim + BC - 1) / BC);
  }
  const int wrow = warp * 16;
  float lse2[2], del[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = m0 + wrow + g + 8 * r;
    lse2[r] = INFINITY;
    del[r] = 0.f;
    if (row < Nq) {
      const int64_t idx = ((int64_t)b * p.heads_q + h) * Nq + row;
      const float l = p.lse[idx];
      lse2[r] = (l == -INFINITY) ? INFINITY : l * kLog2e;
      del[r] = p.delta[idx];
    }
  }
  float acc[ND][4];
#pragma unroll
  for (int d = 0; d < ND; ++d) acc[d][0] = acc[d][1] = acc[d][2] = acc[d][3] = 0.f;

  const uint32_t sQ = smem_u32(smem);
  const uint32_t sdO = sQ + L::bytes(BR);
  const uint32_t sK0 = sdO + L::bytes(BR);
  const uint32_t sV0 = sK0 + 2 * L::bytes(BC);
  if (n_tiles > 0) {
    load_tile<D, BR, NT>(sQ, qg, p.q_row_stride, m0, Nq - m0, hd, tid);
    load_tile<D, BR, NT>(sdO, dog, p.do_row_stride, m0, Nq - m0, hd, tid);
    load_tile<D, BC, NT>(sK0, kg, p.k_row_stride, 0, Nk, hd, tid);
    load_tile<D, BC, NT>(sV0, vg, p.v_row_stride, 0, Nk, hd, tid);
    cp_async_commit();
  }
  const float sl2 = p.scale_log2;
  for (int j = 0; j < n_tiles; ++j) {
    const int st = j & 1;
    if (j + 1 < n_tiles) {
      const int nn = (j + 1) * BC;
      load_tile<D, BC, NT>(sK0 + (st ^ 1) * L::bytes(BC), kg, p.k_row_stride, nn, Nk - nn, hd, tid);
      load_tile<D, BC, NT>(sV0 + (st ^ 1) * L::bytes(BC), vg, p.v_row_stride, nn, Nk - nn, hd, tid);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const uint32_t sK = sK0 + st * L::bytes(BC);
    const uint32_t sV = sV0 + st * L::bytes(BC);
    float s[NB][4], dp[NB][4];
#pragma unroll
    for (int n = 0; n < NB; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[n][e] = dp[n][e] = 0.f;
    // S = Q K^T and dP = dO V^T (hd256: k loop partly unrolled, else fragments loaded ahead spill)
#pragma unroll(D >= 256 ? 2 : KC)
    for (int kc = 0; kc < KC; ++kc) {
      uint32_t aq[4], ad[4];
      ldsm_x4(aq, sQ + L::chunk(wrow + (lane & 15), 2 * kc + (lane >> 4)) * 16);
      ldsm_x4(ad, sdO + L::chunk(wrow + (lane & 15), 2 * kc + (lane >> 4)) * 16);
#pragma unroll
      for (int np = 0; np < NB / 2; ++np) {
        uint32_t bk[4], bv[4];
        const int rr = np * 16 + (lane & 7) + ((lane >> 4) << 3), cc = 2 * kc + ((lane >> 3) & 1);
        ldsm_x4(bk, sK + L::chunk(rr, cc) * 16);
        ldsm_x4(bv, sV + L::chunk(rr, cc) * 16);
        M::mma(s[2 * np], aq, bk);
        M::mma(s[2 * np + 1], aq, bk + 2);
        M::mma(dp[2 * np], ad, bv);
        M::mma(dp[2 * np + 1], ad, bv + 2);
      }
    }
    const int n0 = j * BC;
    const bool need_mask = (n0 + BC > Nk) || (causal && n0 + BC - 1 > m0 + offset);
#pragma unroll
    for (int n = 0; n < NB; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        float pv = ex2(s[n][e] * sl2 - lse2[r]);
        if (need_mask) {
          const int row = m0 + wrow + g + 8 * r;
          const int col = n0 + n * 8 + 2 * t4 + (e & 1);
          if (col >= Nk || (causal && col > row + offset)) pv = 0.f;
        }
        s[n][e] = pv * (dp[n][e] - del[r]);  // dS
      }
    // dQ += dS K
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk) {
      uint32_t a[4];
      a[0] = M::pack(s[2 * kk][0], s[2 * kk][1]);
      a[1] = M::pack(s[2 * kk][2], s[2 * kk][3]);
      a[2] = M::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      a[3] = M::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int dd = 0; dd < ND / 2; ++dd) {
        uint32_t bb[4];
        ldsm_x4_t(bb, sK + L::chunk(kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, 2 * dd + (lane >> 4)) * 16);
        M::mma(acc[2 * dd], a, bb);
        M::mma(acc[2 * dd + 1], a, bb + 2);
      }
    }
    __syncthreads();
  }
  const float scale = p.scale;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = m0 + wrow + g + 8 * r;
    if (row < Nq) {
#pragma unroll
      for (int d = 0; d < ND; ++d) {
        const int col = d * 8 + 2 * t4;
        if (col < hd)
          *reinterpret_cast<uint32_t*>(dqg + (int64_t)row * p.dq_row_stride + col) =
              M::pack(acc[d][2 * r] * scale, acc[d][2 * r + 1] * scale);
      }
    }
  }
}

// ---------------------------------------------------------------- convert dq_accum -> dq
template <typename T, int D>
__device__ __forceinline__ void bwd_convert_kernel(const FlashBwdParams& p) {
  using M = Mma<T>;
  constexpr int ND = D / 8;
  const int h = blockIdx.y, b = blockIdx.z, Nq = p.seqlen_q, hd = p.head_dim;
  const int m0 = blockIdx.x * ConvShape::ROWS;
  T* dqg = (T*)p.dq + (int64_t)b * p.dq_batch_stride + (int64_t)h * p.dq_head_stride;
  const int64_t rowbase = ((int64_t)b * p.heads_q + h) * Nq;
  for (int i = threadIdx.x; i < ConvShape::ROWS * ND; i += ConvShape::THREADS) {
    const int r = i / ND, c = i % ND, row = m0 + r;
    if (row < Nq && c * 8 < hd) {
      const float4* src = reinterpret_cast<const float4*>(p.dq_accum + (rowbase + row) * D + c * 8);
      const float4 x = src[0], y = src[1];
      const float s = p.scale;
      uint4 o;
      o.x = M::pack(x.x * s, x.y * s);
      o.y = M::pack(x.z * s, x.w * s);
      o.z = M::pack(y.x * s, y.y * s);
      o.w = M::pack(y.z * s, y.w * s);
      *reinterpret_cast<uint4*>(dqg + (int64_t)row * p.dq_row_stride + c * 8) = o;
    }
  }
}

}  // namespace fdjl
