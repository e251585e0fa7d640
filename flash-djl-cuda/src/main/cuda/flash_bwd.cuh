// flash_bwd.cuh - FlashAttention-2 backward for fp16 / bf16 on tensor cores (mma.sync).
//
// pre:     delta = rowsum(dO * O) (fp32), and dq_accum zeroed (non-deterministic mode).
// dkdv:    one CTA per (K/V tile of BCK keys, kv head, batch). It loops over every q head of the
//          GQA group and every Q tile that can see its keys (Q tiles that see none are
//          skipped), recomputing the probabilities from the saved LSE:
//            S^T = K Q^T, P^T = exp2(S^T * scale_log2 - lse * log2e)
//            dV += P^T dO, dP^T = V dO^T, dS^T = P^T * (dP^T - delta), dK += dS^T Q
//          dK and dV stay in fp32 registers for the whole loop and are written once (dK * scale).
//          Warp w owns 16 keys (w / SPLIT) and D/SPLIT columns of dK, dV (w % SPLIT).
//          Non-deterministic mode: dS goes through shared memory and dQ_tile = dS K is added
//          to dq_accum with fp32 atomics (unscaled; convert multiplies by scale).
// dq:      deterministic mode: one CTA per Q tile, loop over its visible K/V tiles, dQ in registers, no
//          atomics, written once as T (times scale).
// convert: dq = dq_accum * scale as T.
// Tile sizes: flash_tiles.h. A row with LSE = -inf (it saw no key) uses lse*log2e = +inf, so P = 0 and it contributes
// nothing (no NaN).
#pragma once
#include "flash_common.cuh"
#include "flash_bwd_tile.cuh"
#include "flash_dropout.cuh"
#include "flash_tiles.h"

namespace fdjl {

// ---------------------------------------------------------------- pre: delta, zero dq_accum
template <typename T, typename TO, int D>
__device__ __forceinline__ void bwd_pre_kernel(const FlashBwdParams& p) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.y, b = blockIdx.z, Nq = p.seqlen_q, hd = p.head_dim;
  const TO* og = StridedView<const TO>(p.o).at(b, h);  // O in the data type, dO in the compute type
  const T* dog = StridedView<const T>(p.dout).at(b, h);
  const int64_t rowbase = stats_row0(b, h, p.heads_q, Nq);
  constexpr int RPW = PreShape::ROWS / (PreShape::THREADS / 32);
#pragma unroll
  for (int rr = 0; rr < RPW; ++rr) {
    const int row = blockIdx.x * PreShape::ROWS + warp * RPW + rr;
    if (row >= Nq) break;
    float sum = 0.f;
    if (lane * 8 < hd) {  // D <= 256: one 8-element chunk per lane
      float o8[8], d8[8];
      load_chunk<TO>(og + (int64_t)row * p.o.row_stride + lane * 8, o8, hd - lane * 8);
      load_chunk<T>(dog + (int64_t)row * p.dout.row_stride + lane * 8, d8, hd - lane * 8);
#pragma unroll
      for (int i = 0; i < 8; ++i) sum += o8[i] * d8[i];
    }
    sum = warp_sum(sum);
    if (lane == 0) p.delta[rowbase + row] = sum;
    zero_dq_accum_row<D>(p, rowbase + row, lane);
    zero_dq_turn(p, b, h, row, lane);
  }
}

// ---------------------------------------------------------------- dkdv
template <typename T, typename TO, int D, bool BIAS>
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
  const int hk = blockIdx.y;
  const BwdKeyTile<T, BIAS> kt(p, BCK, BR);
  if (kt.outside()) return;
  const Visibility& vis = kt.vis;
  const int Nq = vis.Nq, Nk = vis.Nk, hd = kt.hd, n0 = kt.n0, total = kt.total;
  const T *kg_ = kt.k, *vg_ = kt.v;

  const uint32_t sK = smem_u32(smem);
  const uint32_t sV = sK + L::bytes(BCK);
  const uint32_t sQ0 = sV + L::bytes(BCK);
  const uint32_t sdO0 = sQ0 + ST * L::bytes(BR);
  const uint32_t sdS = sdO0 + ST * L::bytes(BR);
  unsigned char* sdSp = smem + (sdS - sK);
  float* sLse = reinterpret_cast<float*>(smem + (sdS - sK) + LS::bytes(BCK));
  float* sDel = sLse + ST * BR;

  auto issue = [&](int it, int stg) {
    const int hh = kt.head(hk, it);
    const int m0 = kt.row0(it, BR);
    const T* qg = kt.q_at(StridedView<const T>(p.q), hh);
    const T* dog = kt.q_at(StridedView<const T>(p.dout), hh);
    load_tile<D, BR, NT>(sQ0 + stg * L::bytes(BR), qg, p.q.row_stride, m0, Nq - m0, hd, tid);
    load_tile<D, BR, NT>(sdO0 + stg * L::bytes(BR), dog, p.dout.row_stride, m0, Nq - m0, hd, tid);
    for (int r = tid; r < BR; r += NT) {
      float l2 = INFINITY, dl = 0.f;
      if (m0 + r < Nq) {
        const int64_t idx = kt.stats_row0(p, hh) + m0 + r;
        const float l = p.lse[idx];
        l2 = lse_log2(l);
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
    load_tile<D, BCK, NT>(sK, kg_, p.k.row_stride, n0, Nk - n0, hd, tid);
    load_tile<D, BCK, NT>(sV, vg_, p.v.row_stride, n0, Nk - n0, hd, tid);
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
    const int hh = kt.head(hk, it);
    const int m0 = kt.row0(it, BR);
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
    // P^T (a tile the bias hides is computed to P = 0: the single-stage schedule issues the next
    // tile at the end of the iteration, so there is no skipping it)
    const ScoreBias<BIAS> bias(p, kt.seq, hh);
    const int bst = bias.state(p, m0, BR, n0, BCK);
    // masked scores -> -inf (P = 0) and a partial tile's bias read by type (add_partial), in a loop of their own on
    // the tiles that need them, so that no test sits in front of every exponent (rows past Nq: LSE +inf, P = 0)
    const bool band_cut = vis.needs_mask(m0, BR, n0, BCK);
    if (band_cut || bst != kTileFull) {
      if (bst == kTilePartial) bias.template add_partial<NBR, true>(p, &sT[0][0], m0 + 2 * t4, n0 + kg * 16 + g, Nq, Nk);
      if (!BIAS || band_cut || bst == kTileHidden) {
#pragma unroll
        for (int n = 0; n < NBR; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int q = n * 8 + 2 * t4 + (e & 1);
            const int key = n0 + kg * 16 + g + (e >> 1) * 8;
            sT[n][e] = bst != kTileHidden && ScoreBias<BIAS>::shows(vis, m0 + q, key) ? sT[n][e] : -INFINITY;
          }
      }
    }
#pragma unroll
    for (int n = 0; n < NBR; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) sT[n][e] = ex2(sT[n][e] * sl2 - lse2[n * 8 + 2 * t4 + (e & 1)]);
    // dropout: Z (the forward's keep bits, regenerated) per pair of query tiles
    const Dropout drop = kt.drop0.plus_heads(hh);
    uint32_t keep[BR / 16];
#pragma unroll
    for (int kk = 0; kk < BR / 16; ++kk) keep[kk] = 0xFFu;
    if (drop.on())
      drop.template for_blocks<BR / 16, false>(n0 + kg * 16, m0, g, t4, [&](int kk, uint32_t bits) { keep[kk] = bits; });
    const Dropout* dz = drop.on() ? &drop : nullptr;
    auto zp = [&](float x, int kk, int e) { return dz ? dz->kept(x, keep[kk], e) : x; };  // Z * P / keep
    // dV += (Z P)^T dO
#pragma unroll
    for (int kk = 0; kk < BR / 16; ++kk) {
      uint32_t a[4];
      a[0] = M::pack(zp(sT[2 * kk][0], kk, 0), zp(sT[2 * kk][1], kk, 1));
      a[1] = M::pack(zp(sT[2 * kk][2], kk, 2), zp(sT[2 * kk][3], kk, 3));
      a[2] = M::pack(zp(sT[2 * kk + 1][0], kk, 4), zp(sT[2 * kk + 1][1], kk, 5));
      a[3] = M::pack(zp(sT[2 * kk + 1][2], kk, 6), zp(sT[2 * kk + 1][3], kk, 7));
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
    // dS^T = P^T * (Z dP^T / keep - delta)
#pragma unroll
    for (int n = 0; n < NBR; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        dpT[n][e] = sT[n][e] * (zp(dpT[n][e], n >> 1, 4 * (n & 1) + e) - del[n * 8 + 2 * t4 + (e & 1)]);
    if (ScoreBias<BIAS>::has_grad(p) && sp == 0) {  // dS is the gradient of the biased score
#pragma unroll
      for (int n = 0; n < NBR; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          bias.add_grad(p, m0 + n * 8 + 2 * t4 + (e & 1), n0 + kg * 16 + g + (e >> 1) * 8, dpT[n][e]);
    }
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
          float* dst = p.dq_accum + (kt.stats_row0(p, hh) + row) * dq_accum_cols(D) + wn * DQW + 2 * t4;
#pragma unroll
          for (int d = 0; d < NDQ; ++d) {
            if (wn * DQW + d * 8 < hd) {
              red_add2<S_::VEC_RED>(dst + d * 8, dq[d][2 * r], dq[d][2 * r + 1]);
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

  store_dkdv<TO, DW>(p, kt, hk, &dk[0][0], &dv[0][0], n0 + kg * 16 + g, sp * DW, t4);  // this warp's DW columns
}

// ---------------------------------------------------------------- dq (deterministic)
template <typename T, typename TO, int D, bool BIAS>
__device__ __forceinline__ void bwd_dq_mma_kernel(const FlashBwdParams& p) {
  using S_ = DqMmaShape<D>;
  using L = Lay<D>;
  using M = Mma<T>;
  constexpr int BC = S_::BC, BR = S_::BR, NT = S_::THREADS;
  constexpr int KC = D / 16, NB = BC / 8, ND = D / 8;

  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const DqRowTile<T, BIAS> t(p, BR, BC, /*longest_first=*/false);  // (true: more spills at d = 256)
  if (t.outside()) return;
  const Visibility& vis = t.vis;
  const Dropout& drop = t.drop;
  const ScoreBias<BIAS>& bias = t.bias;
  const int Nq = vis.Nq, Nk = vis.Nk, hd = p.head_dim, m0 = t.m0;

  const T *qg = t.q, *dog = t.dout, *kg = t.k, *vg = t.v;
  const int n_tiles = t.kt.size(), nb = t.key0;
  const int wrow = warp * 16;
  float lse2[2], del[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) t.row_stats(p, m0 + wrow + g + 8 * r, lse2[r], del[r]);
  float acc[ND][4];
#pragma unroll
  for (int d = 0; d < ND; ++d) acc[d][0] = acc[d][1] = acc[d][2] = acc[d][3] = 0.f;

  const uint32_t sQ = smem_u32(smem);
  const uint32_t sdO = sQ + L::bytes(BR);
  const uint32_t sK0 = sdO + L::bytes(BR);
  const uint32_t sV0 = sK0 + 2 * L::bytes(BC);
  if (n_tiles > 0) {
    load_tile<D, BR, NT>(sQ, qg, p.q.row_stride, m0, Nq - m0, hd, tid);
    load_tile<D, BR, NT>(sdO, dog, p.dout.row_stride, m0, Nq - m0, hd, tid);
    load_tile<D, BC, NT>(sK0, kg, p.k.row_stride, nb, Nk - nb, hd, tid);
    load_tile<D, BC, NT>(sV0, vg, p.v.row_stride, nb, Nk - nb, hd, tid);
    cp_async_commit();
  }
  const float sl2 = p.scale_log2;
  int bst_next = bias.state(p, m0, BR, nb, BC);  // tile j + 1's bias state is read during tile j
  for (int j = 0; j < n_tiles; ++j) {
    const int st = j & 1;
    const int n0 = nb + j * BC;  // first key of tile j
    const int bst = bst_next;
    if (j + 1 < n_tiles) bst_next = bias.state(p, m0, BR, n0 + BC, BC);
    if (j + 1 < n_tiles) {
      const int nn = n0 + BC;
      load_tile<D, BC, NT>(sK0 + (st ^ 1) * L::bytes(BC), kg, p.k.row_stride, nn, Nk - nn, hd, tid);
      load_tile<D, BC, NT>(sV0 + (st ^ 1) * L::bytes(BC), vg, p.v.row_stride, nn, Nk - nn, hd, tid);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const uint32_t sK = sK0 + st * L::bytes(BC);
    const uint32_t sV = sV0 + st * L::bytes(BC);
    if (bst == kTileHidden) continue;  // hidden by the bias: dS = 0; nobody reads its stage
    float s[NB][4], dp[NB][4];
#pragma unroll
    for (int n = 0; n < NB; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[n][e] = dp[n][e] = 0.f;
    // S = Q K^T and dP = dO V^T (k loop unrolled as flash_tiles.h says: fragments loaded ahead spill)
#pragma unroll(S_::KUNROLL)
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
    const bool band_cut = t.masked(n0), need_mask = band_cut || bst != kTileFull;
    if (drop.on()) {  // Z dP / keep: the forward's dropout, regenerated
      drop.template for_blocks<BC / 16, true>(m0 + wrow, n0, g, t4, [&](int kk, uint32_t keep) {
#pragma unroll
        for (int e = 0; e < 8; ++e) dp[2 * kk + (e >> 2)][e & 3] = drop.kept(dp[2 * kk + (e >> 2)][e & 3], keep, e);
      });
    }
    if (need_mask) {  // (as in the dK/dV kernel: the masks and a partial tile's bias in a loop of their own)
      if (bst == kTilePartial) bias.template add_partial<NB, false>(p, &s[0][0], m0 + wrow + g, n0 + 2 * t4, Nq, Nk);
      if (!BIAS || band_cut) {
#pragma unroll
        for (int n = 0; n < NB; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int row = m0 + wrow + g + 8 * (e >> 1), col = n0 + n * 8 + 2 * t4 + (e & 1);
            s[n][e] = ScoreBias<BIAS>::shows(vis, row, col) ? s[n][e] : -INFINITY;
          }
      }
    }
#pragma unroll
    for (int n = 0; n < NB; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        s[n][e] = ex2(s[n][e] * sl2 - lse2[r]) * (dp[n][e] - del[r]);  // dS
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
  t.template store_dq<TO, D>(p, &acc[0][0], m0 + wrow + g, t4);
}

// ---------------------------------------------------------------- convert dq_accum -> dq
template <typename TO, int D>
__device__ __forceinline__ void bwd_convert_kernel(const FlashBwdParams& p) {
  constexpr int ND = D / 8;
  const int h = blockIdx.y, b = blockIdx.z, Nq = p.seqlen_q, hd = p.head_dim;
  const int m0 = blockIdx.x * ConvShape::ROWS;
  TO* dqg = StridedView<TO>(p.dq).at(b, h);
  const int64_t rowbase = stats_row0(b, h, p.heads_q, Nq);
  for (int i = threadIdx.x; i < ConvShape::ROWS * ND; i += ConvShape::THREADS) {
    const int r = i / ND, c = i % ND, row = m0 + r;
    if (row < Nq && c * 8 < hd) {
      const float4* src = reinterpret_cast<const float4*>(p.dq_accum + (rowbase + row) * dq_accum_cols(D) + c * 8);
      const float4 x = src[0], y = src[1];
      const float s = p.scale;
      const float v[8] = {x.x * s, x.y * s, x.z * s, x.w * s, y.x * s, y.y * s, y.z * s, y.w * s};
      store_chunk<TO>(dqg + (int64_t)row * p.dq.row_stride + c * 8, v, hd - c * 8);
    }
  }
}

}  // namespace fdjl
