// flash_fwd_tf32_rows.cuh - the float32 forwards' work on a warp's 16 query rows between and after the products:
// the mask and bias of S, the online softmax, dropout of P, and the written O and LSE. Both float32 forwards
// (flash_fwd_tf32.cuh on mma.sync, flash_fwd_tf32_wg.cuh on wgmma) hold S and O in the same per-thread fragment,
// the mma.sync m16n8 C layout: s[n][e] is row row0 + 8 (e >> 1), key n0 + 8n + 2 t4 + (e & 1), where row0 is the
// warp's first row + g (lane = 4 g + t4); acc[d][e] the same rows at head dims 8d + 2 t4 + (e & 1).
//
#pragma once
#include "flash_common.cuh"
#include "flash_fwd_tile.cuh"

namespace fdjl {

// S's mask and bias for key tile n0 (bias state bst): a partial tile's bias read by type, then the band's test only
// on tiles it cuts; rows past Nq read no bias and are not stored
template <int NB, bool BIAS>
__device__ __forceinline__ void tf32_fwd_mask(const FwdTile<float, float, BIAS>& t, const FlashFwdParams& p,
                                              const Visibility::MaskedTiles& masked, float (&s)[NB][4], int bst,
                                              int row0, int n0, int t4) {
  const Visibility& vis = t.vis;
  if constexpr (BIAS) {
    const bool band_cut = masked(n0);
    if (band_cut || bst != kTileFull) {
      if (bst == kTilePartial) t.bias.template add_partial<NB, false>(p, &s[0][0], row0, n0 + 2 * t4, vis.Nq, vis.Nk);
      if (band_cut || bst == kTileHidden) {
#pragma unroll
        for (int n = 0; n < NB; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int row = row0 + (e >> 1) * 8;
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
        const int row = row0 + (e >> 1) * 8;
        const int col = n0 + n * 8 + 2 * t4 + (e & 1);
        s[n][e] = ScoreBias<BIAS>::shows(vis, row, col) ? t.bias.apply(p, s[n][e], row, col, bst) : -INFINITY;
      }
  }
}

// The online softmax of one key tile, rows g and g + 8: S becomes P = exp2(S scale_log2 - m) in place (the log2
// domain with exp2f, as accurate as the SIMT kernels' exponent), the row maxima m and sums l move on, and O is
// rescaled to the new maxima
template <int NB, int ND>
__device__ __forceinline__ void tf32_fwd_softmax(float (&s)[NB][4], float (&acc)[ND][4], float (&mrow)[2],
                                                 float (&lrow)[2], float sl2) {
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
}

// Dropout of P after the row sums (the softmax is that of the undropped P); wrow0: the warp's first row
template <int NB, bool BIAS>
__device__ __forceinline__ void tf32_fwd_dropout(const FwdTile<float, float, BIAS>& t, float (&s)[NB][4], int wrow0,
                                                 int n0, int g, int t4) {
  if (t.drop.on()) {
    t.drop.template for_blocks<NB / 2, true>(wrow0, n0, g, t4, [&](int kk, uint32_t keep) {
#pragma unroll
      for (int e = 0; e < 8; ++e) s[2 * kk + (e >> 2)][e & 3] = t.drop.kept(s[2 * kk + (e >> 2)][e & 3], keep, e);
    });
  }
}

// The epilogue: O / l (store_acc_row: whole sectors where the rows allow, else per element: any head_dim) and the
// LSE (natural log); a row that saw no key gets O = 0, LSE = -inf. Every lane of the warp calls it.
template <int ND, bool BIAS>
__device__ __forceinline__ void tf32_fwd_write(const FwdTile<float, float, BIAS>& t, const FlashFwdParams& p,
                                               const float (&acc)[ND][4], const float (&mrow)[2],
                                               const float (&lrow)[2], int row0, int t4) {
  const bool chunks = rows_in_chunks(t.o, p.o.row_stride, t.hd);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float l = quad_sum(lrow[r]);
    const float inv = l > 0.f ? 1.f / l : 0.f;
    const int row = row0 + 8 * r;
    const bool ok = row < t.vis.Nq;
    store_acc_row<float, ND * 8>(t.o + (int64_t)row * p.o.row_stride, &acc[0][0], r, inv, 0, t.hd, ok, chunks, t4);
    if (ok && t4 == 0) t.lse[row] = l > 0.f ? (mrow[r] + log2f(l)) * kLn2 : -INFINITY;
  }
}

}  // namespace fdjl
