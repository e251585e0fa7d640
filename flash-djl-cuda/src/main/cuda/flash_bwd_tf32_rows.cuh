// flash_bwd_tf32_rows.cuh - what the float32 backward kernels do with one warp's fragments, shared by the mma.sync
// kernels (flash_bwd_tf32.cuh) and the wgmma ones (flash_bwd_tf32_wg.cuh, flash_bwd_dq_tf32_wg.cuh), whose
// accumulators hold the same fragments in the m16n8 layout:
//  - the dK/dV kernels' S^T and dP^T of an item: 16 keys x NBR*8 queries, thread (g, t4) holding keys key0 + g and
//    key0 + g + 8 (key0: the warp's first key in the tile) and queries n*8 + 2 t4 and n*8 + 2 t4 + 1 of the item;
//    then the atomic mode's dQ through shared memory (the epilogue is store_dkdv, flash_bwd_tile.cuh);
//  - the dq kernels' S and dP of a key tile: 16 queries x NB*8 keys, the same layout with the roles swapped.
#pragma once
#include "flash_bwd_tile.cuh"
#include "flash_common.cuh"
#include "flash_tf32.cuh"
#include "flash_tiles.h"

namespace fdjl {

// exp2(s * sl2 - lse2), 0 where the row saw no key (lse2 = -inf) or the entry is masked (s = -inf). ex2.approx.ftz
// (flash_common.cuh) is exp2f's own instruction without exp2f's care for results below 2^-126, which flush to zero:
// exp2f's range test and the branch around it were a fifth of the wgmma dK/dV kernel's sampled time (PERF_LOG "The
// backward's probabilities without branches").
__device__ __forceinline__ float tf32_prob(float s, float sl2, float lse2) {
  const float pr = ex2(fmaf(s, sl2, -lse2));
  return lse2 == -INFINITY ? 0.f : pr;
}

// The atomic mode's dQ of one dK/dV item: dQ_tile = dS K (BR queries x D, unscaled) added to dq_accum. Every warp
// stores its dS^T (16 keys x BR queries) as dS rows into sdS, in Tf32Cols's column order; then each warp takes 16
// rows x DQ_COLS columns of the tile (K's rows read as B: k_cols(col0), a B tile of flash_tf32.cuh) and adds them with
// vector reductions. sdS may be memory the item's products read (DS_OWN false): every warp has read it once the
// barrier before the stores is passed. S_: the kernel's shape (HD, BR, BCK, DQ_M, DQ_COLS, DS_OWN).
template <class S_, class KeyTile, class KCols>
__device__ __forceinline__ void add_dq_tf32(const FlashBwdParams& p, const KeyTile& kt, const float (&ds)[S_::BR / 8][4],
                                            float* sdS, KCols k_cols, int hh, int m0, int wkey, int warp, int lane) {
  constexpr int D = S_::HD;
  using LS = F32Lay<S_::BCK>;  // dS rows: BCK keys + the pad
  constexpr int NDQ = S_::DQ_COLS / 8;
  const int g = lane >> 2, t4 = lane & 3;
  if constexpr (!S_::DS_OWN) __syncthreads();
#pragma unroll
  for (int n = 0; n < S_::BR / 8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int key = wkey + (e >> 1) * 8 + g;  // (its group of 8 keys: g, in Tf32Cols's order)
      sdS[(n * 8 + 2 * t4 + (e & 1)) * LS::RS + (key & ~7) + tf32_cols_order(g)] = ds[n][e];
    }
  __syncthreads();
  const int wm = warp % S_::DQ_M, col0 = (warp / S_::DQ_M) * S_::DQ_COLS;
  if (col0 >= p.head_dim) return;  // columns past the head dim: zero, never read
  float dq[NDQ][4];
#pragma unroll
  for (int n = 0; n < NDQ; ++n) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.f;
  tf32_rows_rows<S_::BCK, NDQ>(dq, smem_u32(sdS), wm * 16, k_cols(col0), lane);
  const int Nq = kt.vis.Nq;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = m0 + wm * 16 + g + 8 * r;
    if (row < Nq) {
      float* dst = p.dq_accum + (kt.stats_row0(p, hh) + row) * dq_accum_cols(D) + col0 + 2 * t4;
#pragma unroll
      for (int n = 0; n < NDQ; ++n)
        if (col0 + n * 8 < p.head_dim) red_add2<true>(dst + n * 8, dq[n][2 * r], dq[n][2 * r + 1]);
    }
  }
}


// S^T -> P^T = exp2(S^T * scale*log2e - LSE), in place. A partial tile's bias is read by type, then the band's test
// runs only on tiles it cuts (rows past Nq: LSE -inf, P = 0; without a bias, bst is kTileFull and the bias's code
// compiles to nothing). A tile the bias hides is computed to P = 0. wkey: the warp's first key in the tile.
template <int NBR, int BCK, bool BIAS, class KeyTile>
__device__ __forceinline__ void tf32_bwd_probs(const KeyTile& kt, const FlashBwdParams& p, const ScoreBias<BIAS>& bias,
                                               int bst, float (&s)[NBR][4], const float* lse2, int m0, int n0,
                                               int wkey, int g, int t4, float sl2) {
  const Visibility& vis = kt.vis;
  if (bst == kTilePartial) bias.template add_partial<NBR, true>(p, &s[0][0], m0 + 2 * t4, n0 + wkey + g, vis.Nq, vis.Nk);
  const bool cut = vis.needs_mask(m0, NBR * 8, n0, BCK) || bst == kTileHidden;
  float l2[NBR][2];  // the LSE of the thread's queries, read once
#pragma unroll
  for (int n = 0; n < NBR; ++n) l2[n][0] = lse2[n * 8 + 2 * t4], l2[n][1] = lse2[n * 8 + 2 * t4 + 1];
  // two loops, so that the tiles no band or bias cuts (most) run without a test per element (one loop with the test
  // compiled to a branch around every element's exponent)
  if (!cut) {
#pragma unroll
    for (int n = 0; n < NBR; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[n][e] = tf32_prob(s[n][e], sl2, l2[n][e & 1]);
  } else {
#pragma unroll
    for (int n = 0; n < NBR; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int q = n * 8 + 2 * t4 + (e & 1);
        const int key = n0 + wkey + g + (e >> 1) * 8;
        const bool shown = bst != kTileHidden && ScoreBias<BIAS>::shows(vis, m0 + q, key);
        const float pr = tf32_prob(s[n][e], sl2, l2[n][e & 1]);
        s[n][e] = shown ? pr : 0.f;
      }
  }
}

// dP^T -> dS^T = P^T (dP^T - delta), in ds; with dropout (the forward's Z, regenerated) dS^T = P^T (Z dP^T / keep -
// delta), and s becomes Z P^T / keep, what dV takes. With a bias gradient, dS is added to it (the gradient of the
// biased score). key0: the warp's first key (the tile's n0 + its offset).
template <int NBR, bool BIAS>
__device__ __forceinline__ void tf32_bwd_dscores(const Dropout& drop, const FlashBwdParams& p,
                                                 const ScoreBias<BIAS>& bias, float (&s)[NBR][4], float (&ds)[NBR][4],
                                                 const float* del, int m0, int key0, int g, int t4) {
  if (!drop.on()) {
#pragma unroll
    for (int n = 0; n < NBR; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) ds[n][e] = s[n][e] * (ds[n][e] - del[n * 8 + 2 * t4 + (e & 1)]);
  } else {
    drop.template for_blocks<NBR / 2, false>(key0, m0, g, t4, [&](int kk, uint32_t keep) {
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const int n = 2 * kk + (e >> 2), q = n * 8 + 2 * t4 + (e & 1);
        ds[n][e & 3] = s[n][e & 3] * (drop.kept(ds[n][e & 3], keep, e) - del[q]);
        s[n][e & 3] = drop.kept(s[n][e & 3], keep, e);
      }
    });
  }
  if (ScoreBias<BIAS>::has_grad(p)) {
#pragma unroll
    for (int n = 0; n < NBR; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) bias.add_grad(p, m0 + n * 8 + 2 * t4 + (e & 1), key0 + g + (e >> 1) * 8, ds[n][e]);
  }
}

// S -> dS = P (dP - delta), in s, for one warp's fragment in the dq kernels (rows: queries row0 + g and row0 + g + 8;
// columns: keys n0 + n*8 + 2 t4 and + 1). With dropout dP becomes Z dP / keep (the forward's Z, regenerated). A
// partial tile's bias is read by type, then the band's test runs only on tiles it cuts (masked: the kernel's
// Visibility::MaskedTiles); bst: the tile's bias state, never kTileHidden (the kernels skip those tiles). lse2, del: the
// thread's two rows' LSE (log2 domain; -inf: a row that saw no key, or past Nq) and delta.
template <int NB, bool BIAS>
__device__ __forceinline__ void tf32_dq_dscores(const Visibility& vis, const Dropout& drop, const FlashBwdParams& p,
                                                const ScoreBias<BIAS>& bias, int bst,
                                                const Visibility::MaskedTiles& masked, float (&s)[NB][4],
                                                float (&dp)[NB][4], const float (&lse2)[2], const float (&del)[2],
                                                int row0, int n0, int g, int t4, float sl2) {
  if (drop.on()) {
    drop.template for_blocks<NB / 2, true>(row0, n0, g, t4, [&](int kk, uint32_t keep) {
#pragma unroll
      for (int e = 0; e < 8; ++e) dp[2 * kk + (e >> 2)][e & 3] = drop.kept(dp[2 * kk + (e >> 2)][e & 3], keep, e);
    });
  }
  if constexpr (BIAS) {
    if (bst == kTilePartial) bias.template add_partial<NB, false>(p, &s[0][0], row0 + g, n0 + 2 * t4, vis.Nq, vis.Nk);
    const bool cut = masked(n0);
#pragma unroll
    for (int n = 0; n < NB; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        const int row = row0 + g + 8 * r, col = n0 + n * 8 + 2 * t4 + (e & 1);
        const float pr = tf32_prob(s[n][e], sl2, lse2[r]);  // (computed for every element: no branch around it)
        s[n][e] = (cut && !vis.shows(row, col) ? 0.f : pr) * (dp[n][e] - del[r]);
      }
  } else {  // (unbiased: one loop for both compiled these differently)
    const bool mask = masked(n0) || bst != kTileFull;
#pragma unroll
    for (int n = 0; n < NB; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        const int row = row0 + g + 8 * r, col = n0 + n * 8 + 2 * t4 + (e & 1);
        const bool hidden = mask && !ScoreBias<BIAS>::shows(vis, row, col);
        const float sb = mask && !hidden ? bias.apply(p, s[n][e], row, col, bst) : s[n][e];
        const float pr = tf32_prob(sb, sl2, lse2[r]);  // (computed for every element: no branch around it)
        s[n][e] = (hidden ? 0.f : pr) * (dp[n][e] - del[r]);
      }
  }
}

// The dq kernels' epilogue: dQ * scale of the thread's rows row + 0 and row + 8 (columns d*8 + 2 t4, + 1), at dqg
// (row 0 of the sequence's query head). Rows past Nq but inside the sequence's rows get the zeros they hold (P = 0).
template <int ND>
__device__ __forceinline__ void store_dq_tf32(const FlashBwdParams& p, const Sequence& seq, float* dqg,
                                              const float (&acc)[ND][4], int row, int t4) {
  const float scale = p.scale;
  const int hd = p.head_dim;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int rr = row + 8 * r;
    if (rr < seq.q_rows) {
#pragma unroll
      for (int d = 0; d < ND; ++d) {
        const int col = d * 8 + 2 * t4;
        if (col < hd)
          store_pair<float>(dqg + (int64_t)rr * p.dq.row_stride + col, acc[d][2 * r] * scale,
                            acc[d][2 * r + 1] * scale, col + 1 < hd);
      }
    }
  }
}

}  // namespace fdjl
