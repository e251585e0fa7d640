// flash_fwd_tf32_wg.cuh - the float32 forward on Hopper warpgroup MMAs (sm_90a), float32-accurate (3xTF32).
//
// Same contract and arithmetic as fwd_tf32_kernel (flash_fwd_tf32.cuh): every product is big x big + big x small +
// small x big of tf32 planes (Tf32x3), and the mask, bias, softmax, dropout and epilogue are the same code
// (flash_fwd_tf32_rows.cuh) on the same per-thread fragment (a wgmma accumulator holds the mma.sync m16n8 layout for
// each warp's 16 rows). What changes is
// who feeds the tensor cores: wgmma reads both operands of S = Q K^T and the B operand of O += P V straight from
// shared memory, so no warp loads or splits an operand fragment per MMA (those were most of the mma.sync kernel's
// instructions).
//  - One CTA = BR = 128 query rows of one (batch, head), two warpgroups of 64.
//  - Q lands once (raw, over the K and V planes), and is split into big and small planes in the 128B-swizzled
//    K-major layout (flash_wgmma.cuh): the A operand of S.
//  - Per key tile: K and V land raw in one copy stage; all threads split them once into planes, K's K-major (rows =
//    keys) and V's transposed (rows = head dims, k = keys, in the order P's registers give them: tf32_regs_rows's
//    permutation), then issue the next tile's copy, which overlaps the products.
//  - S: the small terms over all of D in one accumulator, big x big per k8 step, each added to S with a float32
//    add; O += P V: each chunk of kTf32Chunk k8 steps in a fresh accumulator (small terms first), added to O.
//    A tensor core adds without round-to-nearest, so long chains in one accumulator would carry
//    that error (f32_error_study.py: S's big x big over all of d = 128 took O's error from 0.63 to 1.18 of
//    PyTorch's float32 error, dQ's from 0.91 to 1.77).
// The two products are written out here rather than through flash_tf32_wg.cuh's wg_tf32_scores and
// wg_tf32_regs_rows, which do the same: with the helpers, ptxas scheduled these kernels otherwise, and d = 64's
// forward ran 0.97-0.99x (PERF_LOG "The float32 dK/dV kernel on warpgroup MMAs").
//
#pragma once
#include "flash_common.cuh"
#include "flash_fwd_tile.cuh"
#include "flash_fwd_tf32_rows.cuh"
#include "flash_tf32_wg.cuh"
#include "flash_tiles.h"

namespace fdjl {

template <int D, bool BIAS>
__device__ __forceinline__ void fwd_tf32_wg_kernel(const FlashFwdParams& p) {
  using S_ = FwdTf32WgShape<D>;
  using L = F32Lay<D>;
  constexpr int BC = S_::BC, BR = S_::BR, NT = S_::THREADS;
  constexpr int NB = BC / 8;  // n8 tiles of S (= k8 steps of P V)
  constexpr int ND = D / 8;   // n8 tiles of O (= k8 steps of S)
  constexpr int PCH = kTf32Chunk < NB ? kTf32Chunk : NB;  // P V's k8 steps per fresh accumulator (tf32_regs_rows's)
  static_assert(NB % PCH == 0, "P V's k steps in whole chunks");

  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int wg = warpgroup_index();
  const FwdTile<float, float, BIAS> t(p, BR, /*longest_first=*/true);
  if (t.outside()) return;
  const Visibility& vis = t.vis;
  const int Nq = vis.Nq, Nk = vis.Nk, hd = t.hd, m0 = t.m0;

  const TileRange kt = t.key_tiles(p, BR, BC);
  const int n_tiles = kt.size();
  const Visibility::MaskedTiles masked = vis.masked_key_tiles(m0, BR, BC);
  if (n_tiles == 0) {
    t.template write_empty<D, BR, NT>(p.o.row_stride, tid, m0);
    return;
  }
  const bool qvec = rows_16b_aligned(p.q, hd);
  const bool kvec = rows_16b_aligned(p.k, hd), vvec = rows_16b_aligned(p.v, hd);

  // Q's planes, K's, V's (transposed), then raw K and V; the planes 1 KiB aligned (128B swizzle)
  const uint32_t sQb = (smem_u32(smem) + 1023u) & ~1023u;
  unsigned char* const base = smem + (sQb - smem_u32(smem));
  const uint32_t sQs = sQb + S_::Q_PLANE, sKb = sQs + S_::Q_PLANE, sKs = sKb + S_::KV_PLANE;
  const uint32_t sVb = sKs + S_::KV_PLANE, sVs = sVb + S_::KV_PLANE, sKraw = sVs + S_::KV_PLANE;
  const uint32_t sVraw = sKraw + L::bytes(BC);
  auto at = [&](uint32_t a) { return base + (a - sQb); };
  const float* kraw = reinterpret_cast<const float*>(at(sKraw));
  const float* vraw = reinterpret_cast<const float*>(at(sVraw));

  // Q lands raw over the K and V planes, which are free until the first tile's split
  load_f32_tile<D, BR, NT>(sKb, t.q, p.q.row_stride, m0, Nq - m0, hd, tid, qvec);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();
  // (the planes' stores reach wgmma through the first tile's fence_proxy_async, which orders all of a thread's
  // earlier shared-memory writes)
  split_f32_kmajor<D, BR, NT>(reinterpret_cast<const float*>(at(sKb)), at(sQb), at(sQs), tid);
  __syncthreads();  // raw Q read: the K and V copies may land there
  const int nb = kt.begin * BC;
  load_f32_tile<D, BC, NT>(sKraw, t.k, p.k.row_stride, nb, Nk - nb, hd, tid, kvec);
  load_f32_tile<D, BC, NT>(sVraw, t.v, p.v.row_stride, nb, Nk - nb, hd, tid, vvec);
  cp_async_commit();

  // this warpgroup's 64 rows of Q; operands K-major (flash_tf32_wg.cuh: SBO 1024, k8 step +32 bytes in a 32-float block)
  const WgDesc qb(sQb + wg * 64 * 128, 16, 1024), qs(sQs + wg * 64 * 128, 16, 1024);
  const WgDesc kb(sKb, 16, 1024), ks(sKs, 16, 1024), vb(sVb, 16, 1024), vs(sVs, 16, 1024);
  auto q_k = [](int kc) { return (uint32_t)((kc >> 2) * BR * 128 + (kc & 3) * 32); };  // Q at k8 step kc
  auto k_k = [](int kc) { return (uint32_t)((kc >> 2) * BC * 128 + (kc & 3) * 32); };  // K
  auto v_k = [](int kc) { return (uint32_t)((kc >> 2) * D * 128 + (kc & 3) * 32); };   // V^T

  float acc[ND][4];
#pragma unroll
  for (int d = 0; d < ND; ++d) acc[d][0] = acc[d][1] = acc[d][2] = acc[d][3] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  const int wrow = warp * 16;
  const float sl2 = p.scale_log2;

  int bst_next = t.bias.state(p, m0, BR, nb, BC);  // tile j + 1's bias state is read during tile j
  for (int j = 0; j < n_tiles; ++j) {
    const int n0 = nb + j * BC;
    const int bst = bst_next;
    if (j + 1 < n_tiles) bst_next = t.bias.state(p, m0, BR, n0 + BC, BC);
    // the tile landed, and every warpgroup has waited for its last products: remake the planes, then copy the next
    cp_async_wait<0>();
    __syncthreads();
    split_f32_kmajor<D, BC, NT>(kraw, at(sKb), at(sKs), tid);
    split_f32_vt<D, BC, NT>(vraw, at(sVb), at(sVs), tid);
    fence_proxy_async();  // the planes' stores, visible to wgmma
    __syncthreads();
    if (j + 1 < n_tiles) {
      const int nn = n0 + BC;
      load_f32_tile<D, BC, NT>(sKraw, t.k, p.k.row_stride, nn, Nk - nn, hd, tid, kvec);
      load_f32_tile<D, BC, NT>(sVraw, t.v, p.v.row_stride, nn, Nk - nn, hd, tid, vvec);
      cp_async_commit();
    }

    // S = Q K^T: the small terms over all of D in one accumulator; big x big per k8 step in a fresh accumulator,
    // added to S with a float32 add, as the mma.sync kernels and the backward's recomputation of S do (chaining it
    // over 2 or 4 steps ran 3% and 6% faster, but took dQ's error from 1.02 to 1.25 and 1.14 of PyTorch's float32
    // error at d = 64; PERF_LOG). Without a bias, two such accumulators in turn: step kc is issued before step
    // kc - 1 (whose group has then completed: wait_group 1) is added, so the tensor cores do not idle during the
    // adds. The bias forms keep one (two spilled 92/188 bytes at d = 64).
    constexpr int HB = BIAS ? 1 : 2;
    float s[NB][4], lo[NB][4], hi[HB][NB][4];
    auto add_hi = [&](int kc) {
      wg_pin<4 * NB>(&hi[kc % HB][0][0]);
#pragma unroll
      for (int n = 0; n < NB; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[n][e] = kc == 0 ? hi[kc % HB][n][e] : s[n][e] + hi[kc % HB][n][e];
    };
#pragma unroll
    for (int kc = 0; kc < ND; ++kc) {
      wg_fence();
      WgmmaTf32<BC>::ss(&lo[0][0], qs.at(q_k(kc)), kb.at(k_k(kc)), kc > 0);
      WgmmaTf32<BC>::ss(&lo[0][0], qb.at(q_k(kc)), ks.at(k_k(kc)), 1);
      WgmmaTf32<BC>::ss(&hi[kc % HB][0][0], qb.at(q_k(kc)), kb.at(k_k(kc)), 0);
      wg_commit();
      if constexpr (HB == 1) {
        wg_wait<0>();
        add_hi(kc);
      } else if (kc > 0) {
        wg_wait<1>();
        add_hi(kc - 1);
      }
    }
    if constexpr (HB == 2) {
      wg_wait<0>();
      add_hi(ND - 1);
    }
    wg_pin<4 * NB>(&lo[0][0]);
#pragma unroll
    for (int n = 0; n < NB; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[n][e] += lo[n][e];

    tf32_fwd_mask<NB, BIAS>(t, p, masked, s, bst, m0 + wrow + g, n0, t4);
    tf32_fwd_softmax<NB, ND>(s, acc, mrow, lrow, sl2);

    // O += P V
    tf32_fwd_dropout<NB, BIAS>(t, s, m0 + wrow, n0, g, t4);
    uint32_t pb[NB][4], ps[NB][4];  // P's k8 step kc: keys 2t, 2t + 1 of the step as k positions t, t + 4
#pragma unroll
    for (int kc = 0; kc < NB; ++kc) {
      const uint32_t a[4] = {__float_as_uint(s[kc][0]), __float_as_uint(s[kc][2]), __float_as_uint(s[kc][1]),
                             __float_as_uint(s[kc][3])};
      Tf32x3::split<4>(a, pb[kc], ps[kc]);
    }
#pragma unroll
    for (int c = 0; c < NB / PCH; ++c) {
      float o[ND][4];  // the chunk's P V, small terms first
      wg_fence();
#pragma unroll
      for (int kc = c * PCH; kc < (c + 1) * PCH; ++kc) {
        WgmmaTf32<D>::rs(&o[0][0], ps[kc], vb.at(v_k(kc)), kc > c * PCH);
        WgmmaTf32<D>::rs(&o[0][0], pb[kc], vs.at(v_k(kc)), 1);
      }
#pragma unroll
      for (int kc = c * PCH; kc < (c + 1) * PCH; ++kc) WgmmaTf32<D>::rs(&o[0][0], pb[kc], vb.at(v_k(kc)), 1);
      wg_commit();
      wg_wait<0>();
      wg_pin<4 * ND>(&o[0][0]);
#pragma unroll
      for (int d = 0; d < ND; ++d)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[d][e] += o[d][e];
    }
  }

  tf32_fwd_write<ND, BIAS>(t, p, acc, mrow, lrow, m0 + wrow + g, t4);
  t.template write_empty<D, BR, NT>(p.o.row_stride, tid, Nq);  // padding rows, if the tile has any
}

}  // namespace fdjl
