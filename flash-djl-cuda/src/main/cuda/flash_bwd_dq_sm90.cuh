// flash_bwd_dq_sm90.cuh - the deterministic backward's dQ kernel on Hopper warpgroup MMAs (sm_90a only).
//
// Same contract as bwd_dq_mma_kernel (flash_bwd.cuh): a CTA owns BR query rows of one (sequence, q head), 64
// per computing warpgroup (one at d <= 128, two CTAs per SM; two above: flash_tiles.h), the longest rows first under
// a causal-like band, and loops over the key tiles its rows can see (BC keys, two shared-memory stages of K and V;
// with SPLIT_KV, two of K and one of V, which the producer refills once dP has read it). A producer warpgroup does
// every copy (by TMA where DqWgTile.tma_loads and the launcher gave maps, else cp.async).
// Per key tile and warpgroup (all operands 128B-swizzled, see flash_wgmma.cuh):
//   S = Q_w K^T, dP = dO_w V^T        wgmma, shared x shared (K-major), 64 rows x BC keys, two commit groups:
//                                     P is computed while dP runs
//   P = exp2(S * scale_log2 - lse), dS = P (dP - delta), or P (Z dP / keep - delta)   in registers
//   dQ += dS K                        wgmma, dS from registers, K read transposed (its rows are the k dimension)
// dQ stays in fp32 registers and is written once (dQ * scale). Each element's sum runs over the key tiles in one
// fixed order, so the result has the same bits from run to run: the deterministic mode (flash_params.h).
#pragma once
#include "flash_bwd_tile.cuh"
#include "flash_fwd_sm90.cuh"
#include "flash_tiles.h"
#include "flash_tma.cuh"
#include "flash_wgmma.cuh"

namespace fdjl {

template <typename T, typename TO, int D, bool BIAS>
__device__ __forceinline__ void bwd_dq_wgmma_kernel(const FlashBwdParams& p) {
#if FDJL_WGMMA
  using S_ = DqWgShape<D>;
  constexpr int BC = S_::BC, BR = S_::BR, NP = S_::PRODUCERS, NC = S_::CONSUMERS;
  constexpr bool SPLIT = S_::SPLIT_KV;        // K and V in rings of their own (V: one stage)
  constexpr int KC = D / 16;                  // k16 steps over the head dim
  constexpr int SR = BC / 2, OR = D / 2;      // accumulator registers of S (and dP) and of dQ per thread

  extern __shared__ __align__(128) unsigned char smem[];  // 1 KiB alignment is done by hand
  const int tid = threadIdx.x, wg = warpgroup_index(), warp = (tid >> 5) & 3, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const DqRowTile<T, BIAS> t(p, BR, BC, /*longest_first=*/true);
  if (t.outside()) return;
  const Visibility& vis = t.vis;
  const ScoreBias<BIAS>& bias = t.bias;
  const int Nq = vis.Nq, Nk = vis.Nk, hd = p.head_dim, m0 = t.m0;

  const T *qg = t.q, *dog = t.dout, *kg = t.k, *vg = t.v;
  const int n_tiles = t.kt.size(), nb = t.key0;

  const uint32_t sQ = (smem_u32(smem) + 1023u) & ~1023u;
  const uint32_t sdO = sQ + S_::Q_BYTES;
  const uint32_t sK0 = sdO + S_::Q_BYTES;
  const uint32_t sV0 = sK0 + 2 * S_::KV_BYTES;
  // full[s]: the copies into stage s landed (one cp.async arrival per copying thread, or by TMA one arrival and the
  // bytes it expects); empty[s]: the computing warps are done with stage s (one arrival per warp). SPLIT: the stages
  // are K's (with Q in stage 0), and full_v / empty_v are V's one stage (with dO the first time)
  const uint32_t bars = sV0 + S_::V_STAGES * S_::KV_BYTES;
  auto full = [&](int s) { return bars + 8 * s; };
  auto empty = [&](int s) { return bars + 16 + 8 * s; };
  const uint32_t full_v = bars + 32, empty_v = bars + 40;
  // TMA LOADS (flash_params.h): the producer's thread 0 copies every tile through the launcher's tensor maps
  const bool tma = S_::TMA && p.tma_loads != 0;  // constant false where the head dim copies without TMA
  static_assert(!S_::TMA || (BR == kTmaTile && BC == kTmaTile), "TMA: 64-row tiles, which rank-5 maps' boxes fill");
  if (tid == 0) {
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      mbar_init(full(s), tma ? 1 : NP);
      mbar_init(empty(s), NC / 32);
    }
    if constexpr (SPLIT) {
      mbar_init(full_v, NP);
      mbar_init(empty_v, NC / 32);
    }
  }
  __syncthreads();

  // key tile j into stage j % 2, once the computing warps have released tile j - 2; Q and dO land with tile 0
  auto load_kv = [&](const SwTileCopier<S_::DS, BC, NP>& kv_copier, int j) {
    const int st = j & 1;
    if (j >= 2) mbar_wait(empty(st), ((j >> 1) - 1) & 1);
    const int nn = nb + j * BC;
    kv_copier.copy(sK0 + st * S_::KV_BYTES, kg, p.k.row_stride, nn, Nk - nn);
    kv_copier.copy(sV0 + st * S_::KV_BYTES, vg, p.v.row_stride, nn, Nk - nn);
    cp_async_mbar_arrive(full(st));
  };
  // ---- the producer warpgroup (its register share goes to the computing warpgroups)
  if constexpr (S_::TMA) {  // (tile shapes a TMA box cannot take compile no TMA path)
    if (wg == 0 && tma) {  // ---- the producer warpgroup by TMA: one thread issues every tile (no sequences)
      wg_regs_dec<S_::PRODUCER_REGS>();
      if (tid == 0) {
        const int b = t.seq.batch;
        const bool whole = tma_whole_block_map(hd);
        constexpr uint32_t KV = tma_tile_bytes<BC, S_::DS>(), Q = tma_tile_bytes<BR, S_::DS>();
        for (int j = 0; j < n_tiles; ++j) {  // key tile j into stage j % 2 once tile j - 2 is released
          const int st = j & 1, nn = nb + j * BC;
          if (j >= 2) mbar_wait(empty(st), ((j >> 1) - 1) & 1);
          mbar_arrive_expect_tx(full(st), 2 * KV + (j == 0 ? 2 * Q : 0));
          if (j == 0) {  // Q and dO land with tile 0
            tma_load_tile<BR, S_::DS>(sQ, &p.q_map, m0, t.h, b, full(st), whole);
            tma_load_tile<BR, S_::DS>(sdO, &p.dout_map, m0, t.h, b, full(st), whole);
          }
          tma_load_tile<BC, S_::DS>(sK0 + st * S_::KV_BYTES, &p.k_map, nn, t.hk, b, full(st), whole);
          tma_load_tile<BC, S_::DS>(sV0 + st * S_::KV_BYTES, &p.v_map, nn, t.hk, b, full(st), whole);
        }
      }
      return;
    }
  }
  if constexpr (SPLIT) {
    if (wg == 0) {  // ---- the producer warpgroup, split rings: V j once dP has read V j - 1, then K j + 1
      const SwTileCopier<S_::DS, BC, NP> kv_copier(tid, hd);
      auto load_k = [&](int j) {  // K j into stage j % 2 once tile j - 2 is released
        const int st = j & 1, nn = nb + j * BC;
        if (j >= 2) mbar_wait(empty(st), ((j >> 1) - 1) & 1);
        kv_copier.copy(sK0 + st * S_::KV_BYTES, kg, p.k.row_stride, nn, Nk - nn);
        cp_async_mbar_arrive(full(st));
      };
      auto load_v = [&](int j) {  // V j once the computing warps are done with V j - 1
        const int nn = nb + j * BC;
        if (j >= 1) mbar_wait(empty_v, (j - 1) & 1);
        kv_copier.copy(sV0, vg, p.v.row_stride, nn, Nk - nn);
        cp_async_mbar_arrive(full_v);
      };
      if (n_tiles > 0) {  // Q lands with K 0, dO with V 0
        const SwTileCopier<S_::DS, BR, NP> q_copier(tid, hd);
        q_copier.copy(sQ, qg, p.q.row_stride, m0, Nq - m0);
        load_k(0);
        q_copier.copy(sdO, dog, p.dout.row_stride, m0, Nq - m0);
        load_v(0);
        if (n_tiles > 1) load_k(1);
      }
      wg_regs_dec<S_::PRODUCER_REGS>();  // after the first copies, which need more than the loop's
      for (int j = 1; j < n_tiles; ++j) {
        load_v(j);
        if (j + 1 < n_tiles) load_k(j + 1);
      }
      cp_async_wait<0>();  // no copy of this thread is in flight when it exits
      return;
    }
  } else if (wg == 0) {  // ---- the producer warpgroup: every tile as soon as its stage is free
    if (n_tiles > 0) {  // Q and dO land with tile 0
      const SwTileCopier<S_::DS, BR, NP> q_copier(tid, hd);
      q_copier.copy(sQ, qg, p.q.row_stride, m0, Nq - m0);
      q_copier.copy(sdO, dog, p.dout.row_stride, m0, Nq - m0);
      load_kv(SwTileCopier<S_::DS, BC, NP>(tid, hd), 0);
    }
    wg_regs_dec<S_::PRODUCER_REGS>();  // after the first copies, which need more than the loop's
    const SwTileCopier<S_::DS, BC, NP> kv_copier(tid, hd);
    for (int j = 1; j < n_tiles; ++j) load_kv(kv_copier, j);
    cp_async_wait<0>();  // no copy of this thread is in flight when it exits
    return;
  }
  wg_regs_inc<S_::CONSUMER_REGS>();

  // ---- the computing warpgroups
  const int cw = wg - 1;
  const int wrow = cw * 64 + warp * 16;  // this warp's first row in the tile; the thread's: wrow + g, + 8
  float lse2[2], del[2];  // the LSE (log2 domain) and delta of the thread's rows
#pragma unroll
  for (int r = 0; r < 2; ++r) t.row_stats(p, m0 + wrow + g + 8 * r, lse2[r], del[r]);
  float dq[OR];
#pragma unroll
  for (int i = 0; i < OR; ++i) dq[i] = 0.f;
  const uint32_t sQw = sQ + cw * 64 * 128, sdOw = sdO + cw * 64 * 128;  // this warpgroup's rows of every block
  const float sl2 = p.scale_log2;

  // the bias state of tile j + 1 is read during tile j, off the critical path (a global load)
  int bst_next = bias.state(p, m0, BR, nb, BC);
  for (int j = 0; j < n_tiles; ++j) {
    const int st = j & 1;
    const int n0 = nb + j * BC;  // first key of tile j
    const int bst = bst_next;
    if (j + 1 < n_tiles) bst_next = bias.state(p, m0, BR, n0 + BC, BC);
    mbar_wait(full(st), (j >> 1) & 1);
    fence_proxy_async();  // the landed copies (generic proxy) -> read by wgmma (async proxy)
    if (bst == kTileHidden) {  // hidden by the bias: dS = 0
      if constexpr (SPLIT) {  // V's stage turns too
        mbar_wait(full_v, j & 1);
        if (lane == 0) mbar_arrive(empty_v);
      }
      if (lane == 0) mbar_arrive(empty(st));
      continue;
    }
    const uint32_t sK = sK0 + st * S_::KV_BYTES;
    const uint32_t sV = sV0 + (SPLIT ? 0 : st * S_::KV_BYTES);

    float s[SR], dp[SR];
    wg_fence();
    wg_issue_s<T, BR, BC>(s, sQw, sK, KC);
    wg_commit();
    if constexpr (SPLIT) {
      mbar_wait(full_v, j & 1);
      fence_proxy_async();
    }
    wg_issue_s<T, BR, BC>(dp, sdOw, sV, KC);
    wg_commit();
    wg_wait<1>();  // S done; dP may still run
    wg_pin<SR>(s);
    // P (register 4n + e: row wrow + g + 8 (e >> 1), key n0 + 8n + 2 t4 + (e & 1)); masked scores -> -inf and
    // the bias added only on tiles that need it: a separate loop, so the compares are not in every tile
    if constexpr (!BIAS) {  // the band alone, as written before the bias was read by type: this text compiles to the
                            // same machine code as then, a form shared with the bias's did not (PERF_LOG.md)
      if (t.masked(n0) || bst != kTileFull) {
#pragma unroll
        for (int n = 0; n < BC / 8; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int row = m0 + wrow + g + 8 * (e >> 1);
            const int col = n0 + n * 8 + 2 * t4 + (e & 1);
            s[4 * n + e] = ScoreBias<BIAS>::shows(vis, row, col) ? bias.apply(p, s[4 * n + e], row, col, bst) : -INFINITY;
          }
      }
    } else {
      // (the bias of partial tiles without the band's test: rows past Nq have an LSE of +inf, so P = 0 there)
      const bool band_cut = t.masked(n0);
      if (band_cut || bst != kTileFull) {
        if (bst == kTilePartial)
          bias.template add_partial<BC / 8, false>(p, s, m0 + wrow + g, n0 + 2 * t4, vis.Nq, vis.Nk);
        if (band_cut || bst == kTileHidden) {
#pragma unroll
          for (int n = 0; n < BC / 8; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int row = m0 + wrow + g + 8 * (e >> 1);
              const int col = n0 + n * 8 + 2 * t4 + (e & 1);
              s[4 * n + e] = bst != kTileHidden && vis.shows(row, col) ? s[4 * n + e] : -INFINITY;
            }
        }
      }
    }
#pragma unroll
    for (int n = 0; n < BC / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[4 * n + e] = ex2(fmaf(s[4 * n + e], sl2, -lse2[e >> 1]));
    wg_wait<0>();  // dP done
    wg_pin<SR>(dp);
    if constexpr (SPLIT)
      if (lane == 0) mbar_arrive(empty_v);  // dP has read V
    if (t.drop.on()) {  // Z dP / keep: the forward's dropout, regenerated
      t.drop.template for_blocks<BC / 16, true>(m0 + wrow, n0, g, t4, [&](int kk, uint32_t keep) {
#pragma unroll
        for (int e = 0; e < 8; ++e) dp[8 * kk + e] = t.drop.kept(dp[8 * kk + e], keep, e);
      });
    }
#pragma unroll
    for (int n = 0; n < BC / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[4 * n + e] *= dp[4 * n + e] - del[e >> 1];  // dS
    uint32_t pa[BC / 16][4];
    wg_pack_p<T, BC>(pa, s);
    // dQ += dS K
    wg_pin<OR>(dq);
    wg_fence();
    wg_issue_pv<T, D, BC>(dq, pa, sK);
    wg_commit();
    wg_wait<0>();  // dS K has read the stage
    wg_pin<OR>(dq);
    if (lane == 0) mbar_arrive(empty(st));
  }

  t.template store_dq<TO, D>(p, dq, m0 + wrow + g, t4);
#endif
}

}  // namespace fdjl
