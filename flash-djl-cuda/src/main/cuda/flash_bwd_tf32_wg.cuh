// flash_bwd_tf32_wg.cuh - the float32 dK/dV kernel on Hopper warpgroup MMAs (sm_90a), float32-accurate (3xTF32).
//
// Same contract, items and arithmetic as bwd_dkdv_tf32_kernel (flash_bwd_tf32.cuh), and the same code for what a
// warp does with its fragment of S^T and dP^T (flash_bwd_tf32_rows.cuh: a wgmma accumulator holds the mma.sync
// m16n8 layout for each warp's 16 keys). What changes is who feeds the tensor cores (flash_tf32_wg.cuh):
//  - One CTA = BCK keys of one (batch, kv head), a warpgroup per 64 keys (DkdvTf32WgShape). K and V land raw once
//    and are split into K-major planes, the A operands of S^T = K Q^T and dP^T = V dO^T, read by wgmma.
//  - Per item (a query head of the group and a tile of BR queries): Q and dO land raw in one copy stage, and all
//    threads split them once into K-major planes (the B operands of S^T and dP^T) and transposed planes with the
//    accumulator's query order (the B operands of dV += P^T dO and dK += dS^T Q, whose A operands, P^T and dS^T,
//    stay in registers). Then the next item's copy is issued, which overlaps the products.
//  - The atomic mode's dQ = dS K (add_dq_tf32) stays on mma.sync: dS goes through shared memory, over the item's
//    K-major planes, and K is read from its planes (Tf32SwCols).
#pragma once
#include "flash_bwd_tf32_rows.cuh"
#include "flash_bwd_tile.cuh"
#include "flash_common.cuh"
#include "flash_tf32_wg.cuh"
#include "flash_tiles.h"

namespace fdjl {

template <int D, bool BIAS>
__device__ __forceinline__ void bwd_dkdv_tf32_wg_kernel(const FlashBwdParams& p) {
  using S_ = DkdvTf32WgShape<D>;
  using L = F32Lay<D>;
  constexpr int BCK = S_::BCK, BR = S_::BR, NT = S_::THREADS;
  constexpr int NBR = BR / 8;  // n8 tiles over the queries of an item (= k8 steps of dV and dK)
  constexpr int ND = D / 8;    // k8 steps of S^T and dP^T (= n8 tiles of dV and dK)

  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int wg = warpgroup_index();
  const int hk = blockIdx.y;
  const BwdKeyTile<float, BIAS> kt(p, BCK, BR);
  if (kt.outside()) return;
  const Visibility& vis = kt.vis;
  const int Nq = vis.Nq, Nk = vis.Nk, hd = kt.hd, n0 = kt.n0, total = kt.total;
  const int wkey = warp * 16;  // this warp's keys in the tile: wkey + g, wkey + g + 8

  // K's and V's planes, the item's (Q and dO K-major, then transposed), raw Q and dO, LSE and delta, dS; the planes
  // 1 KiB aligned (128B swizzle)
  const uint32_t sKb = (smem_u32(smem) + 1023u) & ~1023u;
  unsigned char* const base = smem + (sKb - smem_u32(smem));
  const uint32_t sKs = sKb + S_::KV_PLANE, sVb = sKs + S_::KV_PLANE, sVs = sVb + S_::KV_PLANE;
  const uint32_t sQb = sVs + S_::KV_PLANE, sQs = sQb + S_::ITEM_PLANE, sdOb = sQs + S_::ITEM_PLANE;
  const uint32_t sdOs = sdOb + S_::ITEM_PLANE, sQTb = sdOs + S_::ITEM_PLANE, sQTs = sQTb + S_::ITEM_PLANE;
  const uint32_t sdOTb = sQTs + S_::ITEM_PLANE, sdOTs = sdOTb + S_::ITEM_PLANE;
  const uint32_t sQraw = sdOTs + S_::ITEM_PLANE, sdOraw = sQraw + L::bytes(BR);
  auto at = [&](uint32_t a) { return base + (a - sKb); };
  float* const sLse = reinterpret_cast<float*>(at(sdOraw + L::bytes(BR)));  // 2 x BR
  float* const sDel = sLse + 2 * BR;
  float* const sdS = S_::DS_OWN ? sDel + 2 * BR : reinterpret_cast<float*>(at(sQb));
  const bool adds_dq = S_::ADDS_DQ && !p.deterministic && p.dq_accum != nullptr;

  // K and V land raw over the item's planes, which are free until the first item's split
  load_f32_tile<D, BCK, NT>(sQb, kt.k, p.k.row_stride, n0, Nk - n0, hd, tid, rows_16b_aligned(p.k, hd));
  load_f32_tile<D, BCK, NT>(sQb + L::bytes(BCK), kt.v, p.v.row_stride, n0, Nk - n0, hd, tid,
                            rows_16b_aligned(p.v, hd));
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();
  // (the planes' stores reach wgmma through the first item's fence_proxy_async)
  split_f32_kmajor<D, BCK, NT>(reinterpret_cast<const float*>(at(sQb)), at(sKb), at(sKs), tid);
  split_f32_kmajor<D, BCK, NT>(reinterpret_cast<const float*>(at(sQb + L::bytes(BCK))), at(sVb), at(sVs), tid);
  __syncthreads();  // raw K and V read: the item's copies may land

  const bool qvec = rows_16b_aligned(p.q, hd), dovec = rows_16b_aligned(p.dout, hd);
  auto issue = [&](int it, int stg) {  // cp.async of Q, dO; plain loads of LSE (log2 domain), delta
    const int hh = kt.head(hk, it);
    const int m0 = kt.row0(it, BR);
    load_f32_tile<D, BR, NT>(sQraw, kt.q_at(StridedView<const float>(p.q), hh), p.q.row_stride, m0, Nq - m0, hd, tid,
                             qvec);
    load_f32_tile<D, BR, NT>(sdOraw, kt.q_at(StridedView<const float>(p.dout), hh), p.dout.row_stride, m0, Nq - m0,
                             hd, tid, dovec);
    const int64_t rb = kt.stats_row0(p, hh);
    for (int r = tid; r < BR; r += NT) {
      const bool ok = m0 + r < Nq;
      sLse[stg * BR + r] = ok ? p.lse[rb + m0 + r] * kLog2e : -INFINITY;
      sDel[stg * BR + r] = ok ? p.delta[rb + m0 + r] : 0.f;
    }
  };
  if (total > 0) issue(0, 0);
  cp_async_commit();

  // this warpgroup's 64 keys of K and V (A), the item's planes (B); all K-major (flash_tf32_wg.cuh)
  const WgDesc kb(sKb + wg * 64 * 128, 16, 1024), ks(sKs + wg * 64 * 128, 16, 1024);
  const WgDesc vb(sVb + wg * 64 * 128, 16, 1024), vs(sVs + wg * 64 * 128, 16, 1024);
  const WgDesc qb(sQb, 16, 1024), qs(sQs, 16, 1024), dob(sdOb, 16, 1024), dos(sdOs, 16, 1024);
  const WgDesc qtb(sQTb, 16, 1024), qts(sQTs, 16, 1024), dotb(sdOTb, 16, 1024), dots(sdOTs, 16, 1024);

  float dk[ND][4], dv[ND][4];
#pragma unroll
  for (int d = 0; d < ND; ++d)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[d][e] = dv[d][e] = 0.f;
  const float sl2 = p.scale_log2;

  for (int it = 0; it < total; ++it) {
    const int st = it & 1;
    // the item landed, and every warp is done with the last item's planes and dS: split, then copy the next item
    cp_async_wait<0>();
    __syncthreads();
    {
      const float* qraw = reinterpret_cast<const float*>(at(sQraw));
      const float* doraw = reinterpret_cast<const float*>(at(sdOraw));
      split_f32_kmajor<D, BR, NT>(qraw, at(sQb), at(sQs), tid);
      split_f32_kmajor<D, BR, NT>(doraw, at(sdOb), at(sdOs), tid);
      split_f32_vt<D, BR, NT>(qraw, at(sQTb), at(sQTs), tid);
      split_f32_vt<D, BR, NT>(doraw, at(sdOTb), at(sdOTs), tid);
    }
    fence_proxy_async();  // the planes' stores, visible to wgmma
    __syncthreads();
    if (it + 1 < total) issue(it + 1, st ^ 1);
    cp_async_commit();
    const int m0 = kt.row0(it, BR);
    const float* lse2 = sLse + st * BR;
    const float* del = sDel + st * BR;

    // S^T = K Q^T (this warpgroup's 64 keys x BR queries), then P^T
    float s[NBR][4];
    wg_tf32_scores<BR, ND, BCK>(s, kb, ks, qb, qs);
    const ScoreBias<BIAS> bias(p, kt.seq, kt.head(hk, it));
    const int bst = bias.state(p, m0, BR, n0, BCK);
    tf32_bwd_probs<NBR, BCK>(kt, p, bias, bst, s, lse2, m0, n0, wkey, g, t4, sl2);

    // dP^T = V dO^T, then dS^T
    float ds[NBR][4];
    wg_tf32_scores<BR, ND, BCK>(ds, vb, vs, dob, dos);
    tf32_bwd_dscores(kt.drop0.plus_heads(kt.head(hk, it)), p, bias, s, ds, del, m0, n0 + wkey, g, t4);

    // dV += P^T dO, dK += dS^T Q
    wg_tf32_regs_rows<D, NBR>(dv, s, dotb, dots);
    wg_tf32_regs_rows<D, NBR>(dk, ds, qtb, qts);
    if constexpr (S_::ADDS_DQ) {
      if (adds_dq)
        add_dq_tf32<S_>(p, kt, ds, sdS, [&](int col0) { return Tf32SwCols<BCK>{at(sKb), at(sKs), col0}; },
                        kt.head(hk, it), m0, wkey, warp, lane);
    }
  }

  store_dkdv<float, D>(p, kt, hk, &dk[0][0], &dv[0][0], n0 + wkey + g, 0, t4);
}

}  // namespace fdjl
