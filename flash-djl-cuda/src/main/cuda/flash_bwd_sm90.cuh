// flash_bwd_sm90.cuh - the dK/dV kernel of the backward on Hopper warpgroup MMAs (sm_90a only).
//
// Same contract as bwd_dkdv_mma_kernel (flash_bwd.cuh). One CTA owns BCK = 128 keys of one (batch, kv head) and
// loops over every q head of the GQA group and every tile of BR query rows (64; 128 at d = 64, DkdvWgShape) that
// can see its keys. Its three warpgroups specialise (FlashAttention-3's producer / consumer split):
//  - the producer copies (cp.async) K and V once, then Q, dO, LSE and delta of each work item into one of two
//    stages, each signalled full and freed on mbarriers; one of its threads adds each item's staged dQ to
//    dq_accum with a bulk reduction (flash_tma.cuh): with TMA, the first lane of a warp that copies nothing (two such
//    in turn in ORDERED DQ, flash_params.h, whose adds take turns with other CTAs'). It hands its registers to the
//    consumers (setmaxnreg);
//  - two consumer warpgroups of 64 keys each compute, per item (all operands 128B-swizzled, see flash_wgmma.cuh):
//      S^T  = K_w Q^T, dP^T = V_w dO^T       wgmma, shared x shared (K-major), 64 keys x BR rows (dP^T in parts
//                                              of 64 rows, each issued once the last one's dS^T is computed)
//      P^T  = exp2(S^T * scale_log2 - lse * log2e), dS^T = P^T * (dP^T - delta)   in registers
//      dV  += P^T dO, dK += dS^T Q            wgmma, P^T / dS^T from registers, dO / Q transposed
//      dQ_tile = dS K                          dS^T through shared memory (read transposed; two buffers); each
//                                              warpgroup computes half of the head-dim columns (128-row tiles:
//                                              half of the rows) and stages them in dq_accum's layout for the
//                                              producer's reduction (128-row tiles: while dK's second part runs,
//                                              DkdvWgShape::DK_LATE)
//    and meet only at one named barrier per item (both halves of dS^T written).
// dK, dV stay in fp32 registers for the whole loop and are written once (dK * scale).
#pragma once
#include "flash_bwd_tile.cuh"
#include "flash_tiles.h"
#include "flash_tma.cuh"
#include "flash_wgmma.cuh"

namespace fdjl {

// What rows past Nq read as their LSE and delta: +inf (P = 0) and 0. A copy like every other row's, so that a
// stage is complete when the producers' copies have landed (an mbarrier tracks cp.async, not plain stores).
__device__ const float kPadStats[2] = {INFINITY, 0.f};

// What the wgmma dK/dV kernels stream per work item `it` (a GQA query head and Q tile of BR rows) into one
// stage: the LSE and delta rows (read with lse_log2), by cp.async ...
template <int BR, int NT, typename KT>
__device__ __forceinline__ void wg_load_stats(const FlashBwdParams& p, const KT& kt, int hk, int it, uint32_t sLse,
                                              uint32_t sDel, int tid) {
  const int hh = kt.head(hk, it);
  const int m0 = kt.row0(it, BR);
  const int Nq = kt.vis.Nq;
  for (int i = tid; i < 2 * BR; i += NT) {  // LSE by the first BR threads, delta by the next
    const int r = i % BR;
    const bool is_lse = i < BR;
    const float* src = m0 + r < Nq ? (is_lse ? p.lse : p.delta) + kt.stats_row0(p, hh) + m0 + r : kPadStats + (is_lse ? 0 : 1);
    cp_async4((is_lse ? sLse : sDel) + 4 * r, src);
  }
}
// ... and the Q and dO tiles (swizzled), by cp.async too ...
template <typename T, int BR, int NT, typename Copier, bool BIAS>
__device__ __forceinline__ void wg_load_q_item(const FlashBwdParams& p, const BwdKeyTile<T, BIAS>& kt,
                                               const Copier& copier, int hk, int it, uint32_t sQ, uint32_t sdO,
                                               uint32_t sLse, uint32_t sDel, int tid) {
  const int hh = kt.head(hk, it);
  const int m0 = kt.row0(it, BR);
  const int Nq = kt.vis.Nq;
  // the rows first: their thread-index test then does not wait behind the tiles' copies in the memory queue
  // (measured: 9% of the d = 128 kernel's stall samples when it came after them)
  wg_load_stats<BR, NT>(p, kt, hk, it, sLse, sDel, tid);
  copier.copy(sQ, kt.q_at(StridedView<const T>(p.q), hh), p.q.row_stride, m0, Nq - m0);
  copier.copy(sdO, kt.q_at(StridedView<const T>(p.dout), hh), p.dout.row_stride, m0, Nq - m0);
}
// ... or by TMA, issued by one thread, completing on `bar` by byte count (TMA LOADS in flash_params.h; no sequences:
// rows past Nq are past the tensor, and arrive as zeros)
template <int BR, int DS, typename KT>
__device__ __forceinline__ void wg_tma_q_item(const FlashBwdParams& p, const KT& kt, int hk, int it, uint32_t sQ,
                                              uint32_t sdO, uint32_t bar) {
  const int hh = kt.head(hk, it), m0 = kt.row0(it, BR), b = kt.seq.batch;
  const bool whole = tma_whole_block_map(p.head_dim);
  mbar_arrive_expect_tx(bar, 2 * tma_tile_bytes<BR, DS>());
  tma_load_tile<BR, DS>(sQ, &p.q_map, m0, hh, b, bar, whole);
  tma_load_tile<BR, DS>(sdO, &p.dout_map, m0, hh, b, bar, whole);
}

// A 64 x BR accumulator of a warpgroup (register 4n + e: row wkey + 8 (e >> 1), column 8n + 2 t4 + (e & 1))
// packed to 16 bits, as the k16 steps of a register A operand whose k dimension is the columns
template <typename T, int BR>
__device__ __forceinline__ void wg_pack_t(uint32_t (*pk)[4], const float* acc) {
#pragma unroll
  for (int kk = 0; kk < BR / 16; ++kk)
#pragma unroll
    for (int i = 0; i < 4; ++i) pk[kk][i] = Mma<T>::pack(acc[8 * kk + 2 * i], acc[8 * kk + 2 * i + 1]);
}
// ... stored as BR columns of a swizzled tile of ROWS rows (its rows: wkey, wkey + 8 of the warpgroup's layout), from
// column col0 on (a multiple of 16; the tile may be wider)
template <int ROWS, int BR>
__device__ __forceinline__ void wg_store_t(unsigned char* tile, const uint32_t (*pk)[4], int wkey, int t4, int col0 = 0) {
#pragma unroll
  for (int kk = 0; kk < BR / 16; ++kk)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int row = wkey + 8 * (i & 1), col = col0 + kk * 16 + 8 * (i >> 1) + 2 * t4;
      *reinterpret_cast<uint32_t*>(tile + sw128<ROWS>(row, col >> 3) + (col & 7) * 2) = pk[kk][i];
    }
}

// dQ of head-dim columns col0 .. col0 + N - 1 of a BR-row tile: dS K, dS read transposed from dS^T
// (A is MN-major), K read transposed (its rows, the keys, are the k dimension). The columns lie in one
// 64-column block of K (a wgmma reads an MN-major operand from its start address on, block by block).
template <typename T, int N, int BCK, int BR>
__device__ __forceinline__ void wg_issue_dq(float* dq, uint32_t sdS, uint32_t sK, int col0) {
  const WgDesc ds(sdS, BR * 128, 1024), k(sK + (col0 / 64) * BCK * 128 + (col0 % 64) * 2, BCK * 128, 1024);
#pragma unroll
  for (int kk = 0; kk < BCK / 16; ++kk) Wgmma<T, N>::template ss<1, 1>(dq, ds.at(kk * 2048), k.at(kk * 2048), kk > 0);
}
// ... stored into the staging tile (dq_accum's layout: rows of ROW bytes) ...
template <int N, int ROW>
__device__ __forceinline__ void wg_stage_dq(unsigned char* sdq, const float* dq, int col0, int warp, int g, int t4) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    unsigned char* row = sdq + (warp * 16 + g + 8 * r) * ROW + (col0 + 2 * t4) * 4;
#pragma unroll
    for (int n = 0; n < N / 8; ++n)
      *reinterpret_cast<float2*>(row + n * 32) = make_float2(dq[4 * n + 2 * r], dq[4 * n + 2 * r + 1]);
  }
}
// ... whose first `rows` rows one thread adds to dq_accum from row m0 on, as one bulk reduction: columns past the
// head dim add exact zeros (K's padding columns are zero-filled), the pad columns whatever the tile holds there
template <int ROW>
__device__ __forceinline__ void bulk_add_dq(float* dq_rows, uint32_t sdq, int m0, int rows) {
  bulk_reduce_add_f32(dq_rows + (int64_t)m0 * (ROW / 4), sdq, rows * ROW);
  bulk_commit();
}

template <typename T, typename TO, int D, bool BIAS>
__device__ __forceinline__ void bwd_dkdv_wgmma_kernel(const FlashBwdParams& p) {
#if FDJL_WGMMA
  using S_ = DkdvWgShape<D>;
  constexpr int BCK = S_::BCK, BR = S_::BR, NP = S_::PRODUCERS, NC = S_::CONSUMERS;
  constexpr int KC = D / 16;        // k16 steps over the head dim
  constexpr int NBR = BR / 8;       // n8 tiles over the query rows
  constexpr int DPN = S_::DPN;      // query rows of one dP^T part
  constexpr bool DQ_BY_ROWS = S_::DQ_BY_ROWS;
  constexpr int DQN = DQ_BY_ROWS ? D : D / 2;  // dQ columns per consumer warpgroup
  constexpr bool DQ_ONE_BLOCK = DQN % 64 == 0 || 64 % DQN == 0;  // they lie in one 64-column block (not at D = 96)
  constexpr int SR = BR / 2, PR = DPN / 2, OR = D / 2, QR = DQN / 2;  // accumulator registers per thread

  extern __shared__ __align__(128) unsigned char smem[];  // 1 KiB alignment is done by hand
  const int tid = threadIdx.x, wg = warpgroup_index(), warp = (tid >> 5) & 3, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const int hk = blockIdx.y;
  // ORDERED DQ (flash_params.h): dQ added as in the atomic mode, each Q tile's adds in turn from the last key tile to
  // the first. Not with a bias (its work items need not be consecutive Q tiles) nor packed sequences (one counter
  // per tensor row slot): a launcher that asks for it there gets a trap, not a wrong or unordered dQ.
  if (p.deterministic == kOrderedDqMode && (BIAS || p.q_offsets != nullptr)) __trap();
  const bool ordered = !BIAS && p.deterministic == kOrderedDqMode;
  const bool adds_dq = !p.deterministic || ordered;
  const BwdKeyTile<T, BIAS> kt(p, BCK, BR, ordered, !BIAS && p.stagger != 0 && p.q_offsets == nullptr);
  if (kt.outside()) return;
  const Visibility& vis = kt.vis;
  const int Nq = vis.Nq, Nk = vis.Nk, hd = kt.hd, n0 = kt.n0, total = kt.total;

  const uint32_t sK = (smem_u32(smem) + 1023u) & ~1023u;
  const uint32_t sV = sK + S_::KV_BYTES;
  const uint32_t sQ0 = sV + S_::KV_BYTES;
  const uint32_t sdO0 = sQ0 + 2 * S_::QT_BYTES;
  const uint32_t sdS0 = sdO0 + 2 * S_::QT_BYTES;  // dS^T, two buffers (by the parity of the item's dQ)
  const uint32_t sDq = sdS0 + 2 * S_::DS_BYTES;    // the staged dQ of an item (DQ_ROW-byte rows)
  unsigned char* sdSp0 = smem + (sdS0 - smem_u32(smem));
  unsigned char* sDqp = sdSp0 + 2 * S_::DS_BYTES;
  float* sLse = reinterpret_cast<float*>(sDqp + S_::DQ_BYTES);
  float* sDel = sLse + 2 * BR;
  const bool tma = S_::TMA && p.tma_loads != 0;  // constant false where the head dim copies without TMA
  if (ordered && !tma) __trap();                   // its adders are warps of their own, beside TMA's copies
  // Who copies and who adds dQ in the producer warpgroup. With TMA and without a bias: warps 0 and 1 copy, and warp 2
  // adds each item's staged dQ (ORDERED DQ: warps 2 and 3, items in turn), so that an add's waits never hold up a
  // copy. Otherwise every producer thread copies, and thread 0 adds between its copies (the bias kernels: an adder
  // of its own, which reads each item's bias state, spilled 4x the producer's registers).
  constexpr int TMA_LOADERS = BIAS ? NP : 64;
  const int loaders = tma ? TMA_LOADERS : NP, adders = ordered ? 2 : 1;
  // full[s]: the producers' copies into stage s landed (one cp.async arrival per loader; with TMA LOADS, one more by
  // the thread that issued Q and dO, and their bytes); empty[s]: the consumer warps are done with stage s (one
  // arrival per warp); dq_full[a]: the dQ of an item of adder a is staged (NC arrivals); dq_empty: an adder's bulk
  // reduction has read it (one arrival)
  const uint32_t bars = smem_u32(sDel + 2 * BR);
  auto full = [&](int s) { return bars + 8 * s; };
  auto empty = [&](int s) { return bars + 16 + 8 * s; };
  const uint32_t dq_empty = bars + 32;
  auto dq_full = [&](int a) { return bars + 40 + 8 * a; };
  if (tid == 0) {
    mbar_init(full(0), loaders + (tma ? 1 : 0));
    mbar_init(full(1), loaders + (tma ? 1 : 0));
    mbar_init(empty(0), NC / 32);
    mbar_init(empty(1), NC / 32);
    mbar_init(dq_full(0), NC);
    mbar_init(dq_full(1), NC);
    mbar_init(dq_empty, 1);
  }
  __syncthreads();

  // the bias state of work item i (a global load; the consumers read it one item ahead)
  auto item_state = [&](int i) {
    return ScoreBias<BIAS>(p, kt.seq, kt.head(hk, i)).state(p, kt.row0(i, BR), BR, n0, BCK);
  };

  // dQ of the k-th item that adds one (hidden items add none), staged by the consumers for adder k % adders: the
  // barrier they arrive on, and the parity of its phase
  auto dq_full_of = [&](int k) { return dq_full(k % adders); };
  auto dq_full_parity = [&](int k) { return (uint32_t)(k / adders) & 1; };

  if (wg == 0) {  // ---- the producer warpgroup: copies, and the bulk reductions of the staged dQ
    // The bulk reduction of staged item k's dQ (item it) into dq_accum, by one thread. ORDERED DQ: after the add of the
    // key tile that goes before it, if any (BwdKeyTile::dq_predecessor; the turn counter then holds its number + 1);
    // then, once this reduction has completed in global memory, the counter passes the turn on (this number + 1).
    auto add_dq = [&](int it, int k) {
      mbar_wait(dq_full_of(k), dq_full_parity(k));
      const int m0 = kt.row0(it, BR), hh = kt.head(hk, it);
      uint32_t* turn = ordered ? dq_turn(p, kt.seq.batch, hh, m0) : nullptr;
      const uint32_t tile = n0 / BCK;
      if (ordered) {
        const int pred = kt.dq_predecessor(m0 / BR, BCK, BR);
        if (pred >= 0)
          while (ld_acquire_gpu(turn) != (uint32_t)pred + 1) {
          }
        fence_proxy_async_global();  // the preceding key tile's completed reduction, before this one
      }
      bulk_add_dq<S_::DQ_ROW>(p.dq_accum + kt.stats_row0(p, hh) * dq_accum_cols(D), sDq, m0, min(BR, Nq - m0));
      bulk_wait_read();
      mbar_arrive(dq_empty);
      if (ordered) {
        bulk_wait_all();
        fence_proxy_async_global();
        st_release_gpu(turn, tile + 1);
      }
    };
    // the producer's walk over the work items; copy_item(it, sQ, sdO, sLse, sDel, bar) issues item it's copies into
    // one stage, by LOADERS threads. One walk per way of copying, so that each is allocated in the producer's
    // registers on its own (both in one walk spilled more: 176 bytes of spill loads against 104 at d = 64)
    auto produce = [&](auto loaders_c, auto&& copy_item) {
      constexpr int LOADERS = decltype(loaders_c)::value;
      const bool loader = tid < LOADERS;
      auto load = [&](int it) {  // Q, dO, LSE and delta of item it into stage it % 2, once the consumers freed it
        const int stg = it & 1;
        if (it >= 2) mbar_wait(empty(stg), ((it >> 1) - 1) & 1);
        copy_item(it, sQ0 + stg * S_::QT_BYTES, sdO0 + stg * S_::QT_BYTES, smem_u32(sLse + stg * BR),
                  smem_u32(sDel + stg * BR), full(stg));
        cp_async_mbar_arrive(full(stg));
      };
      if (total > 0 && loader) {  // K and V land with item 0
        const SwTileCopier<S_::DS, BCK, LOADERS> kv_copier(tid, hd);
        kv_copier.copy(sK, kt.k, p.k.row_stride, n0, Nk - n0);
        kv_copier.copy(sV, kt.v, p.v.row_stride, n0, Nk - n0);
        load(0);
        if (total > 1) load(1);
      }
      wg_regs_dec<S_::PRODUCER_REGS>();  // after the first copies, which need more than the loop's loads
      if (loader) {
        int staged = 0;
        for (int it = 0; it < total; ++it) {
          if (it + 2 < total) load(it + 2);  // waits until the consumers are done with item it
          if (LOADERS == NP && adds_dq && tid == 0 && item_state(it) != kTileHidden) add_dq(it, staged++);
        }
      } else if (LOADERS < NP && adds_dq && lane == 0 && warp - LOADERS / 32 < adders) {  // an adder of its own
        const int a = warp - LOADERS / 32;
        int staged = 0;
        for (int it = 0; it < total; ++it) {
          if (item_state(it) == kTileHidden) continue;
          if (staged % adders == a) add_dq(it, staged);
          ++staged;
        }
      }
    };
    if (tma) {
      produce(std::integral_constant<int, TMA_LOADERS>(), [&](int it, uint32_t sQ, uint32_t sdO, uint32_t sL,
                                                              uint32_t sD, uint32_t bar) {
        wg_load_stats<BR, TMA_LOADERS>(p, kt, hk, it, sL, sD, tid);
        if (tid == 0) wg_tma_q_item<BR, S_::DS>(p, kt, hk, it, sQ, sdO, bar);
      });
    } else {
      const SwTileCopier<S_::DS, BR, NP> qt_copier(tid, hd);
      produce(std::integral_constant<int, NP>(), [&](int it, uint32_t sQ, uint32_t sdO, uint32_t sL, uint32_t sD,
                                                     uint32_t) {
        wg_load_q_item<T, BR, NP>(p, kt, qt_copier, hk, it, sQ, sdO, sL, sD, tid);
      });
    }
    bulk_wait_all();     // an adder's last reduction completes before the CTA's shared memory goes
    cp_async_wait<0>();  // and no copy of this thread is in flight when it exits
    return;
  }

  // ---- the two consumer warpgroups, 64 keys each
  wg_regs_inc<S_::CONSUMER_REGS>();
  const int cw = wg - 1;
  const int wkey = cw * 64 + warp * 16 + g;  // this thread's keys in the tile: wkey, wkey + 8
  float dk[OR], dv[OR];
#pragma unroll
  for (int i = 0; i < OR; ++i) dk[i] = dv[i] = 0.f;
  const float sl2 = p.scale_log2;
  const WgDesc kw(sK + cw * 64 * 128, 16, 1024), vw(sV + cw * 64 * 128, 16, 1024);  // this warpgroup's keys

  int bst_next = total > 0 ? item_state(0) : kTileFull;
  // a partial item's bias lines asked of L2 one item ahead (ScoreBias::prefetch_l2), here item 0's
  auto prefetch_item = [&](auto i) {
    ScoreBias<BIAS>(p, kt.seq, kt.head(hk, i)).prefetch_l2(p, kt.row0(i, BR), BR, n0, BCK, Nq, tid - NP, NC);
  };
  if constexpr (BIAS) {
    if (bst_next == kTilePartial) prefetch_item(0);
  }
  int staged = 0;  // items whose dQ was staged (hidden items stage none): its parity picks the dS^T buffer
  for (int it = 0; it < total; ++it) {
    const int stg = it & 1;
    const int bst = bst_next;
    if (it + 1 < total) bst_next = item_state(it + 1);
    mbar_wait(full(stg), (it >> 1) & 1);
    fence_proxy_async();  // the landed copies (generic proxy) -> read by wgmma (async proxy)
    const int hh = kt.head(hk, it);
    const int m0 = kt.row0(it, BR);
    const ScoreBias<BIAS> bias(p, kt.seq, hh);
    if (bst == kTileHidden) {  // hidden by the bias: adds nothing
      if (lane == 0) mbar_arrive(empty(stg));
      continue;
    }
    const uint32_t sQ = sQ0 + stg * S_::QT_BYTES;
    const uint32_t sdO = sdO0 + stg * S_::QT_BYTES;
    const float* lse = sLse + stg * BR;
    const float* del = sDel + stg * BR;

    // S^T = K_w Q^T and dP^T's first part = V_w dO^T, as two commit groups: P^T is computed while dP^T runs
    float sT[SR], dpT[PR];
    const WgDesc q(sQ, 16, 1024), d_o(sdO, 16, 1024);
    // dP^T of rows h DPN .. (h + 1) DPN - 1 of the tile (dO's rows: whole 1 KiB swizzle periods in)
    auto issue_dp = [&](int h) {
#pragma unroll
      for (int kc = 0; kc < KC; ++kc) {
        const uint32_t off = (kc >> 2) * BCK * 128 + (kc & 3) * 32;
        const uint32_t offq = (kc >> 2) * BR * 128 + (kc & 3) * 32 + h * DPN * 128;
        Wgmma<T, DPN>::template ss<0, 0>(dpT, vw.at(off), d_o.at(offq), kc > 0);
      }
      wg_commit();
    };
    wg_fence();
#pragma unroll
    for (int kc = 0; kc < KC; ++kc) {
      const uint32_t off = (kc >> 2) * BCK * 128 + (kc & 3) * 32;
      const uint32_t offq = (kc >> 2) * BR * 128 + (kc & 3) * 32;
      Wgmma<T, BR>::template ss<0, 0>(sT, kw.at(off), q.at(offq), kc > 0);
    }
    wg_commit();
    issue_dp(0);
    wg_wait<1>();  // S^T done
    wg_pin<SR>(sT);

    // P^T (register 4n + e: key wkey + 8 (e >> 1), query row m0 + 8n + 2 t4 + (e & 1));
    // masked scores -> -inf (P = 0) and the bias added, only on tiles that need it: a separate loop,
    // so that the compares are not if-converted into every tile (measured in the forward, PERF_LOG.md)
    // (the bias of partial tiles without the band's test: rows past Nq have an LSE of +inf, so P = 0 there)
    const bool band_cut = vis.needs_mask(m0, BR, n0, BCK);
    if (band_cut || bst != kTileFull) {
      if (bst == kTilePartial) bias.template add_partial<NBR, true>(p, sT, m0 + 2 * t4, n0 + wkey, Nq, Nk);
      if (!BIAS || band_cut || bst == kTileHidden) {  // (without a bias: the band cuts, or no mask runs)
#pragma unroll
        for (int n = 0; n < NBR; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int q = n * 8 + 2 * t4 + (e & 1);
            const int key = n0 + wkey + (e >> 1) * 8;
            sT[4 * n + e] = bst != kTileHidden && ScoreBias<BIAS>::shows(vis, m0 + q, key) ? sT[4 * n + e] : -INFINITY;
          }
      }
    }
    if constexpr (BIAS) {  // the next item's lines, after this item's loads (its state has landed by now)
      if (it + 1 < total && bst_next == kTilePartial) prefetch_item(it + 1);
    }
#pragma unroll
    for (int n = 0; n < NBR; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) sT[4 * n + e] = ex2(fmaf(sT[4 * n + e], sl2, -lse_log2(lse[n * 8 + 2 * t4 + (e & 1)])));
    // dV += (Z P)^T dO, dO read transposed (its rows are the k dimension), issued before dS^T is computed;
    // with dropout, the forward's Z regenerated (its bits kept for dS^T)
    const Dropout drop = kt.drop0.plus_heads(hh);
    uint32_t pP[BR / 16][4], pS[BR / 16][4];  // P^T and dS^T as register A operands (k = query rows)
    uint32_t keeps[BR / 16];
    if (!drop.on()) {
      wg_pack_t<T, BR>(pP, sT);
    } else {
      drop.template for_blocks<BR / 16, false>(n0 + wkey - g, m0, g, t4, [&](int kk, uint32_t keep) {
        keeps[kk] = keep;
#pragma unroll
        for (int i = 0; i < 4; ++i)
          pP[kk][i] = Mma<T>::pack(drop.kept(sT[8 * kk + 2 * i], keep, 2 * i), drop.kept(sT[8 * kk + 2 * i + 1], keep, 2 * i + 1));
      });
    }
    wg_pin<OR>(dv);
    wg_fence();
    const WgDesc d_o_t(sdO, BR * 128, 1024), q_t(sQ, BR * 128, 1024);  // dO and Q read transposed
#pragma unroll
    for (int kk = 0; kk < BR / 16; ++kk) Wgmma<T, D>::template rs<1>(dv, pP[kk], d_o_t.at(kk * 2048), 1);
    wg_commit();

    // per part of DPN rows: dS^T = P^T (dP^T - delta), or P^T (Z dP^T / keep - delta); then the next part's dP^T,
    // and dK += dS^T Q over the part's rows (Q read transposed)
    constexpr int PK = DPN / 16;  // k16 steps of a part
    // dK's k16 steps k0 .. k1 - 1 (query rows 16 k0 .. 16 k1 - 1), as one commit group
    auto issue_dk = [&](int k0, int k1) {
      wg_pin<OR>(dk);
#pragma unroll
      for (int kk = 0; kk < BR / 16; ++kk)
        if (kk >= k0 && kk < k1) Wgmma<T, D>::template rs<1>(dk, pS[kk], q_t.at(kk * 2048), 1);
      wg_commit();
    };
    constexpr int DK_EARLY = BR / 16 - S_::DK_LATE;  // the atomic mode issues the other steps after dQ (below)
    auto release_stage = [&]() {
      wg_pin<OR>(dv);
      wg_pin<OR>(dk);
      if (lane == 0) mbar_arrive(empty(stg));  // dV and dK have read the stage
    };
#pragma unroll
    for (int h = 0; h < S_::DP_PARTS; ++h) {
      wg_wait<1>();  // this part's dP^T done; the last group issued (dV, or the last part's dK) may still run
      wg_pin<PR>(dpT);
      const float* pT = sT + h * PR;  // P^T of the part's rows
      const float* pdel = del + h * DPN;
      if (!drop.on()) {
#pragma unroll
        for (int n = 0; n < DPN / 8; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) dpT[4 * n + e] = pT[4 * n + e] * (dpT[4 * n + e] - pdel[n * 8 + 2 * t4 + (e & 1)]);
      } else {
#pragma unroll
        for (int kk = 0; kk < PK; ++kk)
#pragma unroll
          for (int e = 0; e < 8; ++e) {
            const int q = kk * 16 + (e >> 2) * 8 + 2 * t4 + (e & 1);
            dpT[8 * kk + e] = pT[8 * kk + e] * (drop.kept(dpT[8 * kk + e], keeps[h * PK + kk], e) - pdel[q]);
          }
      }
      if (ScoreBias<BIAS>::has_grad(p)) {  // dS is the gradient of the biased score
#pragma unroll
        for (int n = 0; n < DPN / 8; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            bias.add_grad(p, m0 + h * DPN + n * 8 + 2 * t4 + (e & 1), n0 + wkey + (e >> 1) * 8, dpT[4 * n + e]);
      }
      wg_pack_t<T, DPN>(pS + h * PK, dpT);
      wg_fence();
      if (h + 1 < S_::DP_PARTS) issue_dp(h + 1);  // into dpT, now packed
      if ((h + 1) * PK <= DK_EARLY || !adds_dq) {
        issue_dk(h * PK, (h + 1) * PK);
      } else if (h * PK < DK_EARLY) {  // the part's early steps (the rest: after dQ)
        issue_dk(h * PK, DK_EARLY);
      }
    }

    if (adds_dq) {
      // dS^T -> shared memory ([128 keys][BR rows]) while dV and dK's early steps run. Its buffer was last read by
      // the dQ product two items ago, which both warpgroups finished before they met at the last item's barrier.
      const uint32_t sdS = sdS0 + (staged & 1) * S_::DS_BYTES;
      wg_store_t<BCK, BR>(sdSp0 + (staged & 1) * S_::DS_BYTES, pS, wkey, t4);
      fence_proxy_async();
      named_sync<NC>(1);  // dS^T of both warpgroups complete (the consumers' only barrier of the item)
      // dQ[64 rows, the DQN columns of this warpgroup] = dS K, staged in shared memory: by rows, the warpgroup's
      // rows are the 64 columns of dS^T's block cw; by columns, its columns from cw DQN on. dK's last DK_LATE steps
      // are issued after it, and run while it is staged.
      const int row_part = DQ_BY_ROWS ? cw : 0, col0 = DQ_BY_ROWS ? 0 : cw * DQN;
      float dq[QR];
      wg_fence();
      if constexpr (DQ_ONE_BLOCK) {
        wg_issue_dq<T, DQN, BCK, BR>(dq, sdS + row_part * BCK * 128, sK, col0);
      } else {  // D = 96: 48 columns each, as 32 + 16 that stay inside a block: [0, 32) + [32, 48), [64, 96) + [48, 64)
        static_assert(D == 96 && QR == 24, "dQ column split");
        wg_issue_dq<T, 32, BCK, BR>(dq, sdS, sK, cw * 64);
        wg_issue_dq<T, 16, BCK, BR>(dq + 16, sdS, sK, 32 + cw * 16);
      }
      wg_commit();
      if constexpr (S_::DK_LATE > 0) {
        issue_dk(DK_EARLY, BR / 16);
        wg_wait<1>();  // dQ done (and dV); dK's last steps may still run
        wg_pin<QR>(dq);
      } else {
        wg_wait<0>();
        wg_pin<QR>(dq);
        release_stage();
      }
      if (staged > 0) mbar_wait(dq_empty, (staged - 1) & 1);  // the last item's reduction has read the tile
      if constexpr (DQ_ONE_BLOCK) {
        wg_stage_dq<DQN, S_::DQ_ROW>(sDqp + row_part * 64 * S_::DQ_ROW, dq, col0, warp, g, t4);
      } else {
        wg_stage_dq<32, S_::DQ_ROW>(sDqp, dq, cw * 64, warp, g, t4);
        wg_stage_dq<16, S_::DQ_ROW>(sDqp, dq + 16, 32 + cw * 16, warp, g, t4);
      }
      fence_proxy_async();  // the staged dQ, visible to the bulk reduction
      mbar_arrive(dq_full_of(staged));
      ++staged;
      if constexpr (S_::DK_LATE > 0) {
        wg_wait<0>();
        release_stage();
      }
    } else {
      wg_wait<0>();
      release_stage();
    }
  }
  store_dkdv<TO, D>(p, kt, hk, dk, dv, n0 + wkey, 0, t4);
#endif
}

}  // namespace fdjl
