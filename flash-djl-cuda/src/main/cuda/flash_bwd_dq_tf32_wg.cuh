// flash_bwd_dq_tf32_wg.cuh - the float32 dq kernel on Hopper warpgroup MMAs (sm_90a), float32-accurate (3xTF32): the
// deterministic mode's dQ (the atomic mode's comes from the dK/dV kernel, f32_dkdv_adds_dq).
//
// Same contract and arithmetic as bwd_dq_tf32_kernel (flash_bwd_tf32.cuh): per key tile S = Q K^T, dP = dO V^T,
// dS = P (dP - delta) (tf32_dq_dscores, the same code on the same per-warp fragment), dQ += dS K; dQ * scale at the
// end. Who feeds the tensor cores is the float32 forward's way (flash_fwd_tf32_wg.cuh), with a third product:
//  - One CTA = BR = 128 query rows of one (batch, head), two warpgroups of 64 (DqTf32WgShape).
//  - Q and dO land raw once and are split into K-major planes, the A operands of S and dP.
//  - Per key tile: K and V land raw in one copy stage; all threads split them once into K-major planes (the B
//    operands of S and dP) and K into transposed planes with the accumulator's key order (the B operand of
//    dQ += dS K, whose A operand, dS, stays in registers); then the next tile's copy is issued, which overlaps the
//    products.
//  - S and dP: wg_tf32_scores (the small terms in one accumulator, big x big per k8 step added with float32 adds);
//    dQ: wg_tf32_regs_rows (chunks of kTf32Chunk k8 steps in fresh accumulators), as the dK/dV kernel's products.
#pragma once
#include "flash_bwd_tf32_rows.cuh"
#include "flash_bwd_tile.cuh"
#include "flash_common.cuh"
#include "flash_tf32_wg.cuh"
#include "flash_tiles.h"

namespace fdjl {

template <int D, bool BIAS>
__device__ __forceinline__ void bwd_dq_tf32_wg_kernel(const FlashBwdParams& p) {
  using S_ = DqTf32WgShape<D>;
  using L = F32Lay<D>;
  constexpr int BC = S_::BC, BR = S_::BR, NT = S_::THREADS;
  constexpr int NB = BC / 8;  // n8 tiles of S and dP (= k8 steps of dQ += dS K)
  constexpr int ND = D / 8;   // k8 steps of S and dP (= n8 tiles of dQ)

  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int wg = warpgroup_index();
  const DqRowTile<float, BIAS> t(p, BR, BC, /*longest_first=*/true);
  if (t.outside()) return;
  const Visibility& vis = t.vis;
  const int Nq = vis.Nq, Nk = vis.Nk, hd = p.head_dim, m0 = t.m0;
  const int n_tiles = t.kt.size(), nb = t.key0;
  const bool kvec = rows_16b_aligned(p.k, hd), vvec = rows_16b_aligned(p.v, hd);

  // Q's and dO's planes, K's, V's and K^T's, then raw K and V; the planes 1 KiB aligned (128B swizzle)
  const uint32_t sQb = (smem_u32(smem) + 1023u) & ~1023u;
  unsigned char* const base = smem + (sQb - smem_u32(smem));
  const uint32_t sQs = sQb + S_::Q_PLANE, sdOb = sQs + S_::Q_PLANE, sdOs = sdOb + S_::Q_PLANE;
  const uint32_t sKb = sdOs + S_::Q_PLANE, sKs = sKb + S_::KV_PLANE, sVb = sKs + S_::KV_PLANE;
  const uint32_t sVs = sVb + S_::KV_PLANE, sKTb = sVs + S_::KV_PLANE, sKTs = sKTb + S_::KV_PLANE;
  const uint32_t sKraw = sKTs + S_::KV_PLANE, sVraw = sKraw + L::bytes(BC);
  auto at = [&](uint32_t a) { return base + (a - sQb); };
  const float* kraw = reinterpret_cast<const float*>(at(sKraw));
  const float* vraw = reinterpret_cast<const float*>(at(sVraw));
  auto issue_keys = [&](int n0) {
    load_f32_tile<D, BC, NT>(sKraw, t.k, p.k.row_stride, n0, Nk - n0, hd, tid, kvec);
    load_f32_tile<D, BC, NT>(sVraw, t.v, p.v.row_stride, n0, Nk - n0, hd, tid, vvec);
  };

  // Q lands raw over dO's planes and dO over the key tile's planes, which are free until they are split; the first
  // key tile's copy goes with them
  load_f32_tile<D, BR, NT>(sdOb, t.q, p.q.row_stride, m0, Nq - m0, hd, tid, rows_16b_aligned(p.q, hd));
  load_f32_tile<D, BR, NT>(sKb, t.dout, p.dout.row_stride, m0, Nq - m0, hd, tid, rows_16b_aligned(p.dout, hd));
  cp_async_commit();
  if (n_tiles > 0) issue_keys(nb);
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();
  // (the planes' stores reach wgmma through the first tile's fence_proxy_async)
  split_f32_kmajor<D, BR, NT>(reinterpret_cast<const float*>(at(sdOb)), at(sQb), at(sQs), tid);
  __syncthreads();  // raw Q read: dO's planes are free
  split_f32_kmajor<D, BR, NT>(reinterpret_cast<const float*>(at(sKb)), at(sdOb), at(sdOs), tid);
  // (raw dO is read before the first tile's barrier, after which K's planes are written over it)

  const int wrow = warp * 16;  // this warp's rows in the tile: wrow + g, wrow + g + 8
  const int64_t rb = t.seq.stats_row0(t.h, p.heads_q, p.seqlen_q);
  float lse2[2], del[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = m0 + wrow + g + 8 * r;
    lse2[r] = row < Nq ? p.lse[rb + row] * kLog2e : -INFINITY;
    del[r] = row < Nq ? p.delta[rb + row] : 0.f;
  }

  // this warpgroup's 64 rows of Q and dO (A), the key tile's planes (B); all K-major (flash_tf32_wg.cuh)
  const WgDesc qb(sQb + wg * 64 * 128, 16, 1024), qs(sQs + wg * 64 * 128, 16, 1024);
  const WgDesc dob(sdOb + wg * 64 * 128, 16, 1024), dos(sdOs + wg * 64 * 128, 16, 1024);
  const WgDesc kb(sKb, 16, 1024), ks(sKs, 16, 1024), vb(sVb, 16, 1024), vs(sVs, 16, 1024);
  const WgDesc ktb(sKTb, 16, 1024), kts(sKTs, 16, 1024);

  float acc[ND][4];
#pragma unroll
  for (int d = 0; d < ND; ++d) acc[d][0] = acc[d][1] = acc[d][2] = acc[d][3] = 0.f;
  const float sl2 = p.scale_log2;

  for (int j = 0; j < n_tiles; ++j) {
    const int n0 = nb + j * BC;
    // the tile landed, and every warpgroup has waited for its last products: remake the planes, then copy the next
    cp_async_wait<0>();
    __syncthreads();
    split_f32_kmajor<D, BC, NT>(kraw, at(sKb), at(sKs), tid);
    split_f32_kmajor<D, BC, NT>(vraw, at(sVb), at(sVs), tid);
    split_f32_vt<D, BC, NT>(kraw, at(sKTb), at(sKTs), tid);
    fence_proxy_async();  // the planes' stores, visible to wgmma
    __syncthreads();
    if (j + 1 < n_tiles) issue_keys(n0 + BC);
    cp_async_commit();
    const int bst = t.bias.state(p, m0, BR, n0, BC);
    if (bst == kTileHidden) continue;  // hidden by the bias: dS = 0 (the whole CTA skips it)

    float s[NB][4], dp[NB][4];
    wg_tf32_scores<BC, ND, BR>(s, qb, qs, kb, ks);     // S = Q K^T
    wg_tf32_scores<BC, ND, BR>(dp, dob, dos, vb, vs);  // dP = dO V^T
    tf32_dq_dscores<NB>(vis, t.drop, p, t.bias, bst, t.masked, s, dp, lse2, del, m0 + wrow, n0, g, t4, sl2);
    wg_tf32_regs_rows<D, NB>(acc, s, ktb, kts);  // dQ += dS K
  }

  store_dq_tf32<ND>(p, t.seq, t.seq.q_at(StridedView<float>(p.dq), t.h), acc, m0 + wrow + g, t4);
}

}  // namespace fdjl
