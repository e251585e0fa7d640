// flash_bwd_sm90_wide.cuh - the dK/dV kernel of the backward for wide heads (D = 192 and 256) on Hopper
// warpgroup MMAs (sm_90a only).
//
// Same contract as bwd_dkdv_wgmma_kernel (flash_bwd_sm90.cuh). There each warpgroup keeps dK and dV of
// its own 64 keys over the whole head dim: at D = 256 that is 256 registers a thread. Here the two
// warpgroups share one tile of BCK = 64 keys and split the head dim instead: warpgroup w keeps dK and dV
// of D/2 columns (128 registers at D = 256, 96 at D = 192). Per Q tile of 64 rows, warpgroup w first works
// alone on its half of the rows, 32w .. 32w + 31, over the whole head dim:
//   S^T = K Q^T and dP^T = V dO^T (two commit groups: P^T's exponentials run while dP^T's products do),
//   P^T, and dS^T = P^T (dP^T - delta), stored in 16 bits (swizzled) into its columns of the two shared tiles;
// then, after one CTA barrier, on its D/2 columns over all 64 rows:
//   dV += P^T dO,  dK += dS^T Q  (dO and Q read transposed).
// Both warpgroups run their element-wise steps at the same time, on half the rows each: splitting the first
// products by kind instead (S^T in one warpgroup, dP^T in the other) made the steps follow each other, and
// that kernel measured 0.68-0.86x of this one (PERF_LOG.md).
// dQ: where dkdv_adds_dq (flash_tiles.h) names the head dim (192), the atomic mode adds it here too:
//   both, on their columns:  dQ_tile = dS K          (dS^T read transposed), staged in dq_accum's layout,
// which thread 0 adds to dq_accum as one bulk reduction after the next item's first barrier; it waits for that
// reduction's read before the next item's second barrier, after which the tile is staged again. Otherwise
// (D = 256, whose shared memory has no room for the staged tile, and the deterministic mode) the dq kernel
// writes dQ.
#pragma once
#include "flash_bwd_sm90.cuh"

namespace fdjl {

template <typename T, typename TO, int D, bool BIAS>
__device__ __forceinline__ void bwd_dkdv_wgmma_wide_kernel(const FlashBwdParams& p) {
#if FDJL_WGMMA
  using S_ = DkdvWgWideShape<D>;
  constexpr int BCK = S_::BCK, BR = S_::BR, NT = S_::THREADS;
  constexpr int KC = D / 16;          // k16 steps over the head dim
  constexpr int HR = BR / 2;          // query rows of a warpgroup's S^T and dP^T
  constexpr int NHR = HR / 8;         // n8 tiles over them
  constexpr int DW = D / 2;           // dK and dV columns per warpgroup
  constexpr int SR = HR / 2, OR = DW / 2;  // accumulator registers per thread: S^T, dP^T; dK, dV
  constexpr bool ADDS_DQ = dkdv_adds_dq(D);
  constexpr int DQR = ADDS_DQ ? DW / 2 : 1;  // ... dQ (ADDS_DQ)

  extern __shared__ __align__(128) unsigned char smem[];  // 1 KiB alignment is done by hand
  const int tid = threadIdx.x, wg = warpgroup_index(), warp = (tid >> 5) & 3, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const int hk = blockIdx.y;
  const BwdKeyTile<T, BIAS> kt(p, BCK, BR);
  if (kt.outside()) return;
  const Visibility& vis = kt.vis;
  const bool add_dq = ADDS_DQ && !p.deterministic;
  const int Nq = vis.Nq, Nk = vis.Nk, hd = kt.hd, n0 = kt.n0, total = kt.total;
  const int wkey = warp * 16 + g;  // this thread's keys in the tile: wkey, wkey + 8 (both warpgroups)
  const int r0 = wg * HR;          // this warpgroup's first query row in the Q tile (S^T, dP^T)
  // This warpgroup's columns of dK and dV, in at most two pieces that a wgmma can read from dO and Q: a piece
  // starts at a 64-column block or lies inside one (an MN-major operand is read block by block from its start).
  // D = 256: [0, 128) | [128, 256), one piece each. D = 192: [0, 64) + [64, 96) | [128, 192) + [96, 128).
  constexpr int NA = DW % 64 == 0 ? DW : 64, NB = DW - NA;  // columns of the two pieces
  const int colA = wg == 0 ? 0 : D - NA, colB = wg == 0 ? NA : D - NA - NB;
  auto col_off = [](int col) { return (uint32_t)((col / 64) * BR * 128 + (col % 64) * 2); };  // in dO and Q

  const uint32_t sK = (smem_u32(smem) + 1023u) & ~1023u;
  const uint32_t sV = sK + S_::KV_BYTES;
  const uint32_t sQ0 = sV + S_::KV_BYTES;
  const uint32_t sdO0 = sQ0 + 2 * S_::QT_BYTES;
  const uint32_t sPt = sdO0 + 2 * S_::QT_BYTES;  // P^T, 16-bit [BCK keys][BR rows], swizzled
  const uint32_t sdSt = sPt + S_::PT_BYTES;        // dS^T, the same
  unsigned char* base = smem + (sPt - smem_u32(smem));
  unsigned char* sDq = base + 2 * S_::PT_BYTES;  // the item's staged dQ (ADDS_DQ)
  float* sLse = reinterpret_cast<float*>(sDq + S_::DQ_BYTES);
  float* sDel = sLse + 2 * BR;
  // TMA LOADS (flash_params.h): thread 0 copies Q and dO through the launcher's maps, and full[stage] completes on
  // their bytes; LSE and delta stay per-thread copies (their padding rows read +inf and 0)
  const bool tma = S_::TMA && p.tma_loads != 0;  // constant false where the head dim copies without TMA
  const uint32_t full0 = smem_u32(sDel + 2 * BR);
  auto full = [&](int s) { return full0 + 8 * s; };
  if (tma) {
    if (tid == 0) {
      mbar_init(full(0), 1);
      mbar_init(full(1), 1);
      fence_proxy_async();  // the initialised barriers, visible to the TMA unit
    }
    __syncthreads();
  }

  const SwTileCopier<D, BR, NT> qt_copier(tid, hd);
  auto issue = [&](int it, int stg) {  // Q, dO, LSE and delta of item it into stage stg
    const uint32_t sQ = sQ0 + stg * S_::QT_BYTES, sdO = sdO0 + stg * S_::QT_BYTES;
    const uint32_t sL = smem_u32(sLse + stg * BR), sD = smem_u32(sDel + stg * BR);
    if (tma) {
      wg_load_stats<BR, NT>(p, kt, hk, it, sL, sD, tid);
      if (tid == 0) wg_tma_q_item<BR, D>(p, kt, hk, it, sQ, sdO, full(stg));
    } else {
      wg_load_q_item<T, BR, NT>(p, kt, qt_copier, hk, it, sQ, sdO, sL, sD, tid);
    }
  };

  float dk[OR], dv[OR];
#pragma unroll
  for (int i = 0; i < OR; ++i) dk[i] = dv[i] = 0.f;

  if (total > 0) {
    const SwTileCopier<D, BCK, NT> kv_copier(tid, hd);
    kv_copier.copy(sK, kt.k, p.k.row_stride, n0, Nk - n0);
    kv_copier.copy(sV, kt.v, p.v.row_stride, n0, Nk - n0);
    issue(0, 0);
    cp_async_commit();
  }
  const float sl2 = p.scale_log2;

  // The staged dQ of the last item (add_dq), which thread 0 adds to dq_accum once every thread has passed a barrier
  // after staging it: first row, or -1 where none waits
  int staged_m0 = -1, staged_hh = 0;
  auto add_staged = [&]() {
    if (tid == 0 && staged_m0 >= 0)
      bulk_add_dq<S_::DQ_ROW>(p.dq_accum + kt.stats_row0(p, staged_hh) * dq_accum_cols(D), smem_u32(sDq), staged_m0,
                              min(BR, Nq - staged_m0));
    staged_m0 = -1;
  };

  auto item_state = [&](int i) {  // the bias state of work item i, read one item ahead
    return ScoreBias<BIAS>(p, kt.seq, kt.head(hk, i)).state(p, kt.row0(i, BR), BR, n0, BCK);
  };
  int bst_next = total > 0 ? item_state(0) : kTileFull;
  for (int it = 0; it < total; ++it) {
    const int stg = it & 1;
    const int bst = bst_next;
    if (it + 1 < total) bst_next = item_state(it + 1);
    cp_async_wait<0>();
    if (tma) mbar_wait(full(stg), (it >> 1) & 1);  // item it's Q and dO
    fence_proxy_async();
    // item it's stage is complete; the last item's products are done with the other stage, P^T, dS^T and its
    // staged dQ
    __syncthreads();
    if (add_dq) add_staged();
    if (it + 1 < total) {
      issue(it + 1, stg ^ 1);
      cp_async_commit();
    }
    const int hh = kt.head(hk, it);
    const int m0 = kt.row0(it, BR);
    if (bst == kTileHidden) continue;  // hidden by the bias: adds nothing; nobody reads its stage
    const ScoreBias<BIAS> bias(p, kt.seq, hh);
    const Dropout drop = kt.drop0.plus_heads(hh);
    const uint32_t sQ = sQ0 + stg * S_::QT_BYTES;
    const uint32_t sdO = sdO0 + stg * S_::QT_BYTES;
    const float* lse = sLse + stg * BR;
    const float* del = sDel + stg * BR;

    // this warpgroup's rows: S^T = K Q^T, dP^T = V dO^T (register 4n + e: key wkey + 8 (e >> 1), query row
    // m0 + r0 + 8n + 2 t4 + (e & 1)), in two commit groups
    float st[SR], dpt[SR];
    {
      const uint32_t rows = r0 * 128;  // the warpgroup's first row in Q and dO (8-row groups of 1024 bytes)
      const WgDesc k(sK, 16, 1024), q(sQ + rows, 16, 1024), v(sV, 16, 1024), d_o(sdO + rows, 16, 1024);
      wg_fence();
#pragma unroll
      for (int kc = 0; kc < KC; ++kc) {
        const uint32_t ka = (kc >> 2) * BCK * 128 + (kc & 3) * 32, kb = (kc >> 2) * BR * 128 + (kc & 3) * 32;
        Wgmma<T, HR>::template ss<0, 0>(st, k.at(ka), q.at(kb), kc > 0);
      }
      wg_commit();
#pragma unroll
      for (int kc = 0; kc < KC; ++kc) {
        const uint32_t ka = (kc >> 2) * BCK * 128 + (kc & 3) * 32, kb = (kc >> 2) * BR * 128 + (kc & 3) * 32;
        Wgmma<T, HR>::template ss<0, 0>(dpt, v.at(ka), d_o.at(kb), kc > 0);
      }
      wg_commit();
    }
    wg_wait<1>();  // S^T; dP^T's products still run
    wg_pin<SR>(st);
    // -inf where hidden, the bias where read (partial tiles without the band's test: rows past Nq have an LSE of
    // +inf, so P = 0 there)
    const bool band_cut = vis.needs_mask(m0, BR, n0, BCK);
    if (band_cut || bst != kTileFull) {
      if (bst == kTilePartial) bias.template add_partial<NHR, true>(p, st, m0 + r0 + 2 * t4, n0 + wkey, Nq, Nk);
      if (!BIAS || band_cut || bst == kTileHidden) {  // (without a bias: the band cuts, or no mask runs)
#pragma unroll
        for (int n = 0; n < NHR; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int q = r0 + n * 8 + 2 * t4 + (e & 1), key = n0 + wkey + (e >> 1) * 8;
            st[4 * n + e] = bst != kTileHidden && ScoreBias<BIAS>::shows(vis, m0 + q, key) ? st[4 * n + e] : -INFINITY;
          }
      }
    }
#pragma unroll
    for (int n = 0; n < NHR; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        st[4 * n + e] = ex2(fmaf(st[4 * n + e], sl2, -lse_log2(lse[r0 + n * 8 + 2 * t4 + (e & 1)])));
    wg_wait<0>();
    wg_pin<SR>(dpt);
    if (!drop.on()) {  // dS^T = P^T (dP^T - delta)
#pragma unroll
      for (int n = 0; n < NHR; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) dpt[4 * n + e] = st[4 * n + e] * (dpt[4 * n + e] - del[r0 + n * 8 + 2 * t4 + (e & 1)]);
    } else {  // dS^T = P^T (Z dP^T / keep - delta), and dV takes Z P^T / keep (the forward's Z, regenerated)
      drop.template for_blocks<HR / 16, false>(n0 + wkey - g, m0 + r0, g, t4, [&](int kk, uint32_t keep) {
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const int i = 8 * kk + e, q = r0 + kk * 16 + (e >> 2) * 8 + 2 * t4 + (e & 1);
          dpt[i] = st[i] * (drop.kept(dpt[i], keep, e) - del[q]);
          st[i] = drop.kept(st[i], keep, e);
        }
      });
    }
    if (ScoreBias<BIAS>::has_grad(p)) {  // dS is the gradient of the biased score
#pragma unroll
      for (int n = 0; n < NHR; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          bias.add_grad(p, m0 + r0 + n * 8 + 2 * t4 + (e & 1), n0 + wkey + (e >> 1) * 8, dpt[4 * n + e]);
    }
    {
      uint32_t pk[HR / 16][4];  // packed to 16 bits, into this warpgroup's columns of the [keys][rows] tiles
      wg_pack_t<T, HR>(pk, st);
      wg_store_t<BCK, HR>(base, pk, wkey, t4, r0);
      wg_pack_t<T, HR>(pk, dpt);
      wg_store_t<BCK, HR>(base + S_::PT_BYTES, pk, wkey, t4, r0);
    }
    fence_proxy_async();
    if (add_dq && tid == 0) bulk_wait_read();  // the last item's reduction has read the staged dQ
    __syncthreads();  // P^T and dS^T complete

    // this warpgroup's columns: dV += (Z P)^T dO, dK += dS^T Q (dO and Q read transposed).
    // acc[columns] += X^T Y for this warpgroup's pieces of the columns of Y (dO or Q, read transposed)
    auto issue_cols = [&](float* acc, uint32_t sXt, uint32_t sY) {
      const WgDesc x(sXt, 16, 1024), ya(sY + col_off(colA), BR * 128, 1024), yb(sY + col_off(colB), BR * 128, 1024);
#pragma unroll
      for (int kk = 0; kk < BR / 16; ++kk) {
        const uint64_t a = x.at(kk * 32);
        Wgmma<T, NA>::template ss<0, 1>(acc, a, ya.at(kk * 2048), 1);
        if constexpr (NB > 0) Wgmma<T, NB>::template ss<0, 1>(acc + NA / 2, a, yb.at(kk * 2048), 1);
      }
    };
    wg_pin<OR>(dv);
    wg_fence();
    issue_cols(dv, sPt, sdO);
    wg_commit();
    auto issue_dk = [&]() {
      wg_pin<OR>(dk);
      wg_fence();
      issue_cols(dk, sdSt, sQ);
      wg_commit();
    };
    if constexpr (ADDS_DQ) {
      if (add_dq) {
        // dQ = dS K on this warpgroup's columns, in the pieces of dK and dV: a commit group before dK's, so that it is
        // staged while dK's products run (each mode issues dK's group on its own path: ptxas then neither
        // serializes the MMAs nor injects a fence)
        float dq[DQR];
        wg_fence();
        wg_issue_dq<T, NA, BCK, BR>(dq, sdSt, sK, colA);
        if constexpr (NB > 0) wg_issue_dq<T, NB, BCK, BR>(dq + NA / 2, sdSt, sK, colB);
        wg_commit();
        issue_dk();
        wg_wait<1>();  // dV and dQ done; dK may still run
        wg_pin<DQR>(dq);
        wg_stage_dq<NA, S_::DQ_ROW>(sDq, dq, colA, warp, g, t4);
        if constexpr (NB > 0) wg_stage_dq<NB, S_::DQ_ROW>(sDq, dq + NA / 2, colB, warp, g, t4);
        fence_proxy_async();  // the staged dQ, visible to the bulk reduction
        staged_m0 = m0;
        staged_hh = hh;
      } else {
        issue_dk();
      }
    } else {
      issue_dk();
    }
    wg_wait<0>();
    wg_pin<OR>(dv);
    wg_pin<OR>(dk);
  }
  if (add_dq) {
    __syncthreads();  // the last item's staged dQ is complete
    add_staged();
    if (tid == 0) bulk_wait_all();  // the last reduction completes before the CTA's shared memory goes
  }

  store_dkdv<TO, NA>(p, kt, hk, dk, dv, n0 + wkey, colA, t4);  // this warpgroup's columns
  if constexpr (NB > 0) store_dkdv<TO, NB>(p, kt, hk, dk + NA / 2, dv + NA / 2, n0 + wkey, colB, t4);
#endif
}

}  // namespace fdjl
