// flash_bwd_tf32.cuh - FlashAttention-2 backward for float32 data on the tensor cores,
// float32-accurate (3xTF32, flash_tf32.cuh): pre, dkdv and convert in the atomic mode (dkdv adds dQ with float32
// reductions), pre, dkdv and dq in the deterministic mode (no atomics, the same bits every run):
//   dkdv: one CTA = BCK keys of one (batch, kv head), 16 per warp, K and V in shared memory; over
//         the (query head of the group, Q tile) items that see them, Q / dO / LSE / delta tiles
//         stream through two stages (or one stage, split into tf32 planes once per item: Tf32Tile::split_once).
//         Per item: S^T = K Q^T, P^T = exp2(S^T * scale*log2e - LSE),
//         dP^T = V dO^T, dS^T = P^T (dP^T - delta), dV += P^T dO, dK += dS^T Q; dK * scale at the end. In the
//         atomic mode (f32_dkdv_adds_dq) also dQ_tile = dS K through shared memory, added to dq_accum with
//         float32 reductions (unscaled; convert scales it), so that the dq kernel does not run.
//   dq:   one CTA = BR queries of one (batch, head), as the forward: per K/V tile S, P, dP = dO V^T,
//         dS, dQ += dS K; dQ * scale at the end. It recomputes S and dP (FlashAttention-2's
//         separate dq pass), the price of a dQ without atomics: the deterministic mode's, and the atomic mode's
//         where the dkdv kernel does not add dQ.
// Both products are the two of flash_tf32.cuh. A row that saw no key (LSE = -inf) has P = 0.
// In the sm_90a pass the dkdv kernel of d 32-64 (not d = 32 with a bias) and the dq kernel of d 32-64 are the
// warpgroup-MMA ones of flash_bwd_tf32_wg.cuh and flash_bwd_dq_tf32_wg.cuh (f32_dkdv_on_wgmma, f32_dq_on_wgmma); what
// a warp does with its fragments is shared (flash_bwd_tf32_rows.cuh).
#pragma once
#include "flash_bwd_tf32_rows.cuh"
#include "flash_bwd_tile.cuh"
#include "flash_common.cuh"
#include "flash_tf32.cuh"
#include "flash_tiles.h"

namespace fdjl {

template <int D, bool BIAS>
__device__ __forceinline__ void bwd_dkdv_tf32_kernel(const FlashBwdParams& p) {
  using S_ = DkdvTf32Shape<D>;
  using L = F32Lay<D>;
  constexpr int BCK = S_::BCK, BR = S_::BR, NT = S_::THREADS;
  constexpr int NBR = BR / 8;  // n8 tiles over the queries of an item
  constexpr int ND = D / 8;
  constexpr bool SPLIT = S_::SPLIT_ONCE;
  constexpr int RAW_STAGES = SPLIT ? 1 : 2;

  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int hk = blockIdx.y;
  const BwdKeyTile<float, BIAS> kt(p, BCK, BR);
  if (kt.outside()) return;
  const Visibility& vis = kt.vis;
  const int Nq = vis.Nq, Nk = vis.Nk, hd = kt.hd, n0 = kt.n0, total = kt.total;
  const int wkey = warp * 16;  // this warp's keys in the tile: wkey + g, wkey + g + 8

  const uint32_t sK = smem_u32(smem);
  const uint32_t sV = sK + L::bytes(BCK);
  const uint32_t sQ0 = sV + L::bytes(BCK);
  const uint32_t sdO0 = sQ0 + RAW_STAGES * L::bytes(BR);
  const float* sQp = reinterpret_cast<const float*>(smem + 2 * L::bytes(BCK));
  // (writable: add_dq_tf32 stores dS in the item's dO stage once every warp has read it)
  float* const sdOp = reinterpret_cast<float*>(smem + 2 * L::bytes(BCK) + RAW_STAGES * L::bytes(BR));
  // SPLIT: the planes of Q and dO after the one copy stage
  float* const planes0 = reinterpret_cast<float*>(smem + 2 * L::bytes(BCK) + 2 * L::bytes(BR));
  const Tf32Planes qpl{planes0, planes0 + L::bytes(BR) / 4};
  const Tf32Planes dopl{planes0 + 2 * (L::bytes(BR) / 4), planes0 + 3 * (L::bytes(BR) / 4)};
  float* sLse = reinterpret_cast<float*>(smem + 2 * L::bytes(BCK) + S_::C.streamed_rows() * L::bytes(1));  // 2 x BR
  float* sDel = sLse + 2 * BR;
  float* const sDsOwn = sDel + 2 * BR;  // S_::DS_OWN: dS's own buffer
  const bool adds_dq = S_::ADDS_DQ && !p.deterministic && p.dq_accum != nullptr;

  const bool qvec = rows_16b_aligned(p.q, hd), dovec = rows_16b_aligned(p.dout, hd);
  load_f32_tile<D, BCK, NT>(sK, kt.k, p.k.row_stride, n0, Nk - n0, hd, tid, rows_16b_aligned(p.k, hd));
  load_f32_tile<D, BCK, NT>(sV, kt.v, p.v.row_stride, n0, Nk - n0, hd, tid, rows_16b_aligned(p.v, hd));
  auto issue = [&](int it, int stg) {  // cp.async of Q, dO; plain loads of LSE (log2 domain), delta
    const int hh = kt.head(hk, it);
    const int m0 = kt.row0(it, BR);
    const int raw = SPLIT ? 0 : stg;
    load_f32_tile<D, BR, NT>(sQ0 + raw * L::bytes(BR), kt.q_at(StridedView<const float>(p.q), hh), p.q.row_stride,
                             m0, Nq - m0, hd, tid, qvec);
    load_f32_tile<D, BR, NT>(sdO0 + raw * L::bytes(BR), kt.q_at(StridedView<const float>(p.dout), hh),
                             p.dout.row_stride, m0, Nq - m0, hd, tid, dovec);
    const int64_t rb = kt.stats_row0(p, hh);
    for (int r = tid; r < BR; r += NT) {
      const bool ok = m0 + r < Nq;
      sLse[stg * BR + r] = ok ? p.lse[rb + m0 + r] * kLog2e : -INFINITY;
      sDel[stg * BR + r] = ok ? p.delta[rb + m0 + r] : 0.f;
    }
  };
  if (total > 0) issue(0, 0);
  cp_async_commit();

  float dk[ND][4], dv[ND][4];
#pragma unroll
  for (int d = 0; d < ND; ++d)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[d][e] = dv[d][e] = 0.f;
  const float sl2 = p.scale_log2;

  for (int it = 0; it < total; ++it) {
    const int st = it & 1;
    if constexpr (SPLIT) {  // the item's copies landed, the planes are free: split, then copy the next item
      cp_async_wait<0>();
      __syncthreads();
      split_f32_tile<D, BR, NT>(sQp, qpl, tid);
      split_f32_tile<D, BR, NT>(sdOp, dopl, tid);
      __syncthreads();
      if (it + 1 < total) {
        issue(it + 1, st ^ 1);
        cp_async_commit();
      }
    } else {
      if (it + 1 < total) {
        issue(it + 1, st ^ 1);
        cp_async_commit();
        cp_async_wait<1>();
      } else {
        cp_async_wait<0>();
      }
      __syncthreads();
    }
    const int m0 = kt.row0(it, BR);
    const uint32_t sQ = sQ0 + st * L::bytes(BR), sdO = sdO0 + st * L::bytes(BR);
    const float* lse2 = sLse + st * BR;
    const float* del = sDel + st * BR;

    // S^T = K Q^T (this warp's 16 keys x BR queries), then P^T
    float s[NBR][4];
#pragma unroll
    for (int n = 0; n < NBR; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
    if constexpr (SPLIT) tf32_rows_rows<D, NBR>(s, sK, wkey, qpl, lane);
    else tf32_rows_rows<D, NBR>(s, sK, wkey, sQ, lane);
    const ScoreBias<BIAS> bias(p, kt.seq, kt.head(hk, it));  // (a tile it hides is computed to P = 0)
    const int bst = bias.state(p, m0, BR, n0, BCK);
    tf32_bwd_probs<NBR, BCK>(kt, p, bias, bst, s, lse2, m0, n0, wkey, g, t4, sl2);

    // dP^T = V dO^T, then dS^T = P^T (dP^T - delta)
    float ds[NBR][4];
#pragma unroll
    for (int n = 0; n < NBR; ++n) ds[n][0] = ds[n][1] = ds[n][2] = ds[n][3] = 0.f;
    if constexpr (SPLIT) tf32_rows_rows<D, NBR>(ds, sV, wkey, dopl, lane);
    else tf32_rows_rows<D, NBR>(ds, sV, wkey, sdO, lane);
    tf32_bwd_dscores(kt.drop0.plus_heads(kt.head(hk, it)), p, bias, s, ds, del, m0, n0 + wkey, g, t4);

    // dV += P^T dO, dK += dS^T Q
    if constexpr (SPLIT) {
      tf32_regs_rows<D, NBR>(dv, s, dopl, lane);
      tf32_regs_rows<D, NBR>(dk, ds, qpl, lane);  // (the next item's split waits for every warp)
    } else {
      tf32_regs_rows<D, NBR>(dv, s, sdOp + st * (L::bytes(BR) / 4), lane);
      tf32_regs_rows<D, NBR>(dk, ds, sQp + st * (L::bytes(BR) / 4), lane);
    }
    if constexpr (S_::ADDS_DQ) {
      if (adds_dq) {
        const float* sKp = reinterpret_cast<const float*>(smem);
        add_dq_tf32<S_>(p, kt, ds, S_::DS_OWN ? sDsOwn : sdOp + st * (L::bytes(BR) / 4),
                        [&](int col0) { return Tf32Cols<D>{sKp, col0}; }, kt.head(hk, it), m0, wkey, warp, lane);
      }
    }
    if constexpr (!SPLIT) __syncthreads();  // the stage is refilled by the next iteration's issue
  }

  store_dkdv<float, D>(p, kt, hk, &dk[0][0], &dv[0][0], n0 + wkey + g, 0, t4);
}

template <int D, bool BIAS>
__device__ __forceinline__ void bwd_dq_tf32_kernel(const FlashBwdParams& p) {
  using S_ = DqTf32Shape<D>;
  using L = F32Lay<D>;
  constexpr int BC = S_::BC, BR = S_::BR, NT = S_::THREADS;
  constexpr int NB = BC / 8, ND = D / 8;

  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int h = blockIdx.y, hk = kv_head_of(p, h);
  const Sequence seq(p, blockIdx.z);
  const Visibility vis(p, seq);
  const Dropout drop(p, blockIdx.z, h);
  const int Nq = vis.Nq, Nk = vis.Nk, hd = p.head_dim;
  const int m0 = (vis.upper_bounded() ? gridDim.x - 1 - blockIdx.x : blockIdx.x) * BR;  // longest first
  if (m0 >= seq.q_rows) return;
  const float* kg = seq.k_at(StridedView<const float>(p.k), hk);
  const float* vg = seq.k_at(StridedView<const float>(p.v), hk);
  float* dqg = seq.q_at(StridedView<float>(p.dq), h);
  const ScoreBias<BIAS> bias(p, seq, h);
  const TileRange kt = bias.keys(p, vis.key_tiles(m0, BR, BC), m0, BR, BC);
  const int n_tiles = kt.size(), nb = kt.begin * BC;
  const Visibility::MaskedTiles masked = vis.masked_key_tiles(m0, BR, BC);
  const bool kvec = rows_16b_aligned(p.k, hd), vvec = rows_16b_aligned(p.v, hd);

  const uint32_t sQ = smem_u32(smem);
  const uint32_t sdO = sQ + L::bytes(BR);
  const uint32_t sK0 = sdO + L::bytes(BR);
  const uint32_t sV0 = sK0 + 2 * L::bytes(BC);
  const float* sKp = reinterpret_cast<const float*>(smem + 2 * L::bytes(BR));

  load_f32_tile<D, BR, NT>(sQ, seq.q_at(StridedView<const float>(p.q), h), p.q.row_stride, m0, Nq - m0, hd, tid,
                           rows_16b_aligned(p.q, hd));
  load_f32_tile<D, BR, NT>(sdO, seq.q_at(StridedView<const float>(p.dout), h), p.dout.row_stride, m0, Nq - m0, hd,
                           tid, rows_16b_aligned(p.dout, hd));
  if (n_tiles > 0) {
    load_f32_tile<D, BC, NT>(sK0, kg, p.k.row_stride, nb, Nk - nb, hd, tid, kvec);
    load_f32_tile<D, BC, NT>(sV0, vg, p.v.row_stride, nb, Nk - nb, hd, tid, vvec);
  }
  cp_async_commit();

  const int wrow = warp * 16;
  const int64_t rb = seq.stats_row0(h, p.heads_q, p.seqlen_q);
  float lse2[2], del[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = m0 + wrow + g + 8 * r;
    lse2[r] = row < Nq ? p.lse[rb + row] * kLog2e : -INFINITY;
    del[r] = row < Nq ? p.delta[rb + row] : 0.f;
  }
  float acc[ND][4];
#pragma unroll
  for (int d = 0; d < ND; ++d) acc[d][0] = acc[d][1] = acc[d][2] = acc[d][3] = 0.f;
  const float sl2 = p.scale_log2;

  for (int j = 0; j < n_tiles; ++j) {
    const int st = j & 1;
    const int n0 = nb + j * BC;
    if (j + 1 < n_tiles) {
      const int nn = n0 + BC;
      load_f32_tile<D, BC, NT>(sK0 + (st ^ 1) * L::bytes(BC), kg, p.k.row_stride, nn, Nk - nn, hd, tid, kvec);
      load_f32_tile<D, BC, NT>(sV0 + (st ^ 1) * L::bytes(BC), vg, p.v.row_stride, nn, Nk - nn, hd, tid, vvec);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const uint32_t sK = sK0 + st * L::bytes(BC), sV = sV0 + st * L::bytes(BC);
    const int bst = bias.state(p, m0, BR, n0, BC);
    if (bst == kTileHidden) continue;  // hidden by the bias: dS = 0; nobody reads its stage

    float s[NB][4], dp[NB][4];
#pragma unroll
    for (int n = 0; n < NB; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[n][e] = dp[n][e] = 0.f;
    tf32_rows_rows<D, NB>(s, sQ, wrow, sK, lane);
    tf32_rows_rows<D, NB>(dp, sdO, wrow, sV, lane);
    tf32_dq_dscores<NB>(vis, drop, p, bias, bst, masked, s, dp, lse2, del, m0 + wrow, n0, g, t4, sl2);
    tf32_regs_rows<D, NB>(acc, s, sKp + st * (L::bytes(BC) / 4), lane);  // dQ += dS K
    __syncthreads();
  }

  store_dq_tf32<ND>(p, seq, dqg, acc, m0 + wrow + g, t4);
}

}  // namespace fdjl
