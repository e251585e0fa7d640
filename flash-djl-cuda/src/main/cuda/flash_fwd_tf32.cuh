// flash_fwd_tf32.cuh - FlashAttention-2 forward for float32 data on the tensor cores (mma.sync), float32-accurate
// (3xTF32, flash_tf32.cuh). The structure of flash_fwd.cuh with float32 tiles: one CTA = BR query
// rows of one (batch, head), 16 per warp; Q stays in shared memory, K/V tiles of BC keys stream
// through two stages with cp.async, split by each warp as it reads them. Per tile: S = Q K^T (3xTF32), mask, online
// softmax in the log2 domain with exp2f (as accurate as the SIMT kernels' exponent), O += P V (3xTF32, P split in
// registers). O / l and the LSE are written once; a row that sees no key gets O = 0, LSE = -inf.
// The float32 forwards run on warpgroup MMAs (flash_fwd_tf32_wg.cuh) except d = 32's with a bias (f32_fwd_on_wgmma).
//
#pragma once
#include "flash_common.cuh"
#include "flash_fwd_tile.cuh"
#include "flash_tf32.cuh"
#include "flash_tiles.h"

namespace fdjl {

template <int D, bool BIAS>
__device__ __forceinline__ void fwd_tf32_kernel(const FlashFwdParams& p) {
  using S_ = FwdTf32Shape<D>;
  using L = F32Lay<D>;
  constexpr int BC = S_::BC, BR = S_::BR, NT = S_::THREADS;
  constexpr int NB = BC / 8;  // n8 tiles of S (= k8 steps of P V)
  constexpr int ND = D / 8;   // n8 tiles of O

  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
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

  const uint32_t sQ = smem_u32(smem);
  const uint32_t sK0 = sQ + L::bytes(BR);
  const uint32_t sV0 = sK0 + 2 * L::bytes(BC);
  const float* sVp = reinterpret_cast<const float*>(smem + L::bytes(BR)) + 2 * (L::bytes(BC) / 4);

  const int nb = kt.begin * BC;
  load_f32_tile<D, BR, NT>(sQ, t.q, p.q.row_stride, m0, Nq - m0, hd, tid, qvec);
  load_f32_tile<D, BC, NT>(sK0, t.k, p.k.row_stride, nb, Nk - nb, hd, tid, kvec);
  load_f32_tile<D, BC, NT>(sV0, t.v, p.v.row_stride, nb, Nk - nb, hd, tid, vvec);
  cp_async_commit();

  float acc[ND][4];
#pragma unroll
  for (int d = 0; d < ND; ++d) acc[d][0] = acc[d][1] = acc[d][2] = acc[d][3] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  const int wrow = warp * 16;
  const float sl2 = p.scale_log2;

  int bst_next = t.bias.state(p, m0, BR, nb, BC);  // tile j + 1's bias state is read during tile j
  for (int j = 0; j < n_tiles; ++j) {
    const int st = j & 1;
    const int n0 = nb + j * BC;
    const int bst = bst_next;
    if (j + 1 < n_tiles) bst_next = t.bias.state(p, m0, BR, n0 + BC, BC);
    if (j + 1 < n_tiles) {
      const int nn = n0 + BC;
      load_f32_tile<D, BC, NT>(sK0 + (st ^ 1) * L::bytes(BC), t.k, p.k.row_stride, nn, Nk - nn, hd, tid, kvec);
      load_f32_tile<D, BC, NT>(sV0 + (st ^ 1) * L::bytes(BC), t.v, p.v.row_stride, nn, Nk - nn, hd, tid, vvec);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const uint32_t sK = sK0 + st * L::bytes(BC);
    const float* sV = sVp + st * (L::bytes(BC) / 4);
    // a tile the bias hides inside the range is computed to P = 0 (skipping it with a `continue` made
    // ptxas spill 100 bytes at D = 64, in every call, bias or not)

    // S = Q K^T
    float s[NB][4];
#pragma unroll
    for (int n = 0; n < NB; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
    tf32_rows_rows<D, NB>(s, sQ, wrow, sK, lane);

    if constexpr (BIAS) {
      // a partial tile's bias read by type, then the band's test only on tiles it cuts (rows past Nq read no bias
      // and are not stored)
      const bool band_cut = masked(n0);
      if (band_cut || bst != kTileFull) {
        if (bst == kTilePartial)
          t.bias.template add_partial<NB, false>(p, &s[0][0], m0 + wrow + g, n0 + 2 * t4, Nq, Nk);
        if (band_cut || bst == kTileHidden) {
#pragma unroll
          for (int n = 0; n < NB; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int row = m0 + wrow + g + (e >> 1) * 8;
              const int col = n0 + n * 8 + 2 * t4 + (e & 1);
              s[n][e] = bst != kTileHidden && vis.shows(row, col) ? s[n][e] : -INFINITY;
            }
        }
      }
    } else if (masked(n0) || bst != kTileFull) {  // (unbiased: one loop for both compiled these differently)
#pragma unroll
      for (int n = 0; n < NB; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int row = m0 + wrow + g + (e >> 1) * 8;
          const int col = n0 + n * 8 + 2 * t4 + (e & 1);
          s[n][e] = ScoreBias<BIAS>::shows(vis, row, col) ? t.bias.apply(p, s[n][e], row, col, bst) : -INFINITY;
        }
    }

    // online softmax: rows g and g + 8 of this warp's 16
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < NB; ++n) mx = fmaxf(mx, fmaxf(s[n][2 * r], s[n][2 * r + 1]));
      mx = quad_max(mx);
      const float mnew = fmaxf(mrow[r], mx * sl2);
      const float mu = (mnew == -INFINITY) ? 0.f : mnew;
      const float alpha = exp2f(mrow[r] - mu);
      mrow[r] = mnew;
      float sum = 0.f;
#pragma unroll
      for (int n = 0; n < NB; ++n) {
        const float p0 = exp2f(fmaf(s[n][2 * r], sl2, -mu)), p1 = exp2f(fmaf(s[n][2 * r + 1], sl2, -mu));
        s[n][2 * r] = p0;
        s[n][2 * r + 1] = p1;
        sum += p0 + p1;
      }
      lrow[r] = lrow[r] * alpha + sum;
#pragma unroll
      for (int d = 0; d < ND; ++d) {
        acc[d][2 * r] *= alpha;
        acc[d][2 * r + 1] *= alpha;
      }
    }

    // O += P V
    if (t.drop.on()) {  // dropout of P after the row sums: the softmax is that of the undropped P
      t.drop.template for_blocks<BC / 16, true>(m0 + wrow, n0, g, t4, [&](int kk, uint32_t keep) {
#pragma unroll
        for (int e = 0; e < 8; ++e) s[2 * kk + (e >> 2)][e & 3] = t.drop.kept(s[2 * kk + (e >> 2)][e & 3], keep, e);
      });
    }
    tf32_regs_rows<D, NB>(acc, s, sV, lane);
    __syncthreads();  // stage st is overwritten by the next prefetch
  }

  // epilogue: normalise, write O (per element: any head_dim) and the LSE (natural log)
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float l = quad_sum(lrow[r]);
    const float inv = l > 0.f ? 1.f / l : 0.f;
    const int row = m0 + wrow + g + 8 * r;
    if (row < Nq) {
      float* orow = t.o + (int64_t)row * p.o.row_stride;
#pragma unroll
      for (int d = 0; d < ND; ++d) {
        const int col = d * 8 + 2 * t4;
        if (col < hd) store_pair<float>(orow + col, acc[d][2 * r] * inv, acc[d][2 * r + 1] * inv, col + 1 < hd);
      }
      if (t4 == 0) t.lse[row] = l > 0.f ? (mrow[r] + log2f(l)) * kLn2 : -INFINITY;
    }
  }
  t.template write_empty<D, BR, NT>(p.o.row_stride, tid, Nq);  // padding rows, if the tile has any
}

}  // namespace fdjl
