// flash_fwd.cuh - FlashAttention-2 forward for fp16 / bf16 on tensor cores (mma.sync).
//
// One CTA = BR query rows of one (batch, head). Each warp owns 16*MT of those rows for the
// whole kernel. Q is copied once into shared memory, K/V tiles of BC keys stream through two
// shared-memory stages (tile j+1 is in flight with cp.async while tile j is used). Per tile:
//   S = Q K^T (fp32, registers)  ->  scale to the log2 domain, mask  ->  online softmax
//   (running max m, running sum l, rescale of the O accumulator)  ->  O += P V with P in T.
// At the end O / l is written once (via shared memory, 16-byte stores) and the LSE once,
// converted to natural log. A row that saw no key keeps l = 0 and gets O = 0, LSE = -inf.
#pragma once
#include "flash_common.cuh"
#include "flash_fwd_tile.cuh"
#include "flash_tiles.h"

namespace fdjl {

template <typename T, typename TO, int D, bool BIAS>
__device__ __forceinline__ void fwd_mma_kernel(const FlashFwdParams& p) {
  using S_ = FwdMmaShape<D>;
  using L = Lay<D>;
  using M = Mma<T>;
  constexpr int MT = S_::MT, BC = S_::BC, BR = S_::BR, NT = S_::THREADS;
  constexpr int KC = D / 16;  // k16 steps over the head dim
  constexpr int NB = BC / 8;  // n8 tiles of S
  constexpr int ND = D / 8;   // n8 tiles of O
  constexpr bool QREG = S_::QREG;  // keep Q fragments in registers
  constexpr int KUNROLL = S_::KUNROLL;

  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const FwdTile<T, TO, BIAS> t(p, BR, /*longest_first=*/false);
  if (t.outside()) return;
  const Visibility& vis = t.vis;
  const int Nq = vis.Nq, Nk = vis.Nk, hd = t.hd, m0 = t.m0;
  const T *qg = t.q, *kg = t.k, *vg = t.v;
  TO* og = t.o;
  float* lseg = t.lse;

  const TileRange kt = t.key_tiles(p, BR, BC);  // tiles no row sees are skipped
  const int n_tiles = kt.size();
  const Visibility::MaskedTiles masked = vis.masked_key_tiles(m0, BR, BC);
  if (n_tiles == 0) {
    t.template write_empty<D, BR, NT>(p.o.row_stride, tid, m0);
    return;
  }
  t.template write_empty<D, BR, NT>(p.o.row_stride, tid, Nq);  // padding rows, if the tile has any

  const uint32_t sQ = smem_u32(smem);
  const uint32_t sK0 = sQ + L::bytes(BR);
  const uint32_t sV0 = sK0 + 2 * L::bytes(BC);

  const int nb = kt.begin * BC;  // first key of the first tile
  load_tile<D, BR, NT>(sQ, qg, p.q.row_stride, m0, Nq - m0, hd, tid);
  load_tile<D, BC, NT>(sK0, kg, p.k.row_stride, nb, Nk - nb, hd, tid);
  load_tile<D, BC, NT>(sV0, vg, p.v.row_stride, nb, Nk - nb, hd, tid);
  cp_async_commit();

  float acc[MT][ND][4];
  float mrow[MT][2], lrow[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int d = 0; d < ND; ++d) acc[mt][d][0] = acc[mt][d][1] = acc[mt][d][2] = acc[mt][d][3] = 0.f;
    mrow[mt][0] = mrow[mt][1] = -INFINITY;
    lrow[mt][0] = lrow[mt][1] = 0.f;
  }
  uint32_t qf[QREG ? MT : 1][QREG ? KC : 1][4];
  const int wrow = warp * 16 * MT;  // first row of this warp inside the tile
  const float sl2 = p.scale_log2;

  int bst_next = t.bias.state(p, m0, BR, nb, BC);  // tile j + 1's bias state is read during tile j
  for (int j = 0; j < n_tiles; ++j) {
    const int st = j & 1;
    const int n0 = nb + j * BC;  // first key of tile j
    const int bst = bst_next;
    if (j + 1 < n_tiles) bst_next = t.bias.state(p, m0, BR, n0 + BC, BC);
    if (j + 1 < n_tiles) {  // prefetch tile j+1 into the other stage
      const int nn = n0 + BC;
      load_tile<D, BC, NT>(sK0 + (st ^ 1) * L::bytes(BC), kg, p.k.row_stride, nn, Nk - nn, hd, tid);
      load_tile<D, BC, NT>(sV0 + (st ^ 1) * L::bytes(BC), vg, p.v.row_stride, nn, Nk - nn, hd, tid);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const uint32_t sK = sK0 + st * L::bytes(BC);
    const uint32_t sV = sV0 + st * L::bytes(BC);
    // a tile the bias hides inside the range adds nothing (never tile 0: key_tiles starts past them);
    // no warp reads its stage, so the prefetch into it next iteration needs no barrier
    if (bst == kTileHidden) continue;

    if constexpr (QREG) {
      if (j == 0) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int kc = 0; kc < KC; ++kc)
            ldsm_x4(qf[mt][kc], sQ + L::chunk(wrow + mt * 16 + (lane & 15), 2 * kc + (lane >> 4)) * 16);
      }
    }

    // S = Q K^T
    float s[MT][NB][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int n = 0; n < NB; ++n) s[mt][n][0] = s[mt][n][1] = s[mt][n][2] = s[mt][n][3] = 0.f;
    // with Q in shared memory the k loop is only partly unrolled: it bounds the registers the
    // compiler spends on fragments loaded ahead (hd96 MT = 2: 216 registers instead of spills)
#pragma unroll(QREG ? KC : KUNROLL)
    for (int kc = 0; kc < KC; ++kc) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        if constexpr (QREG) {
          a[mt][0] = qf[mt][kc][0]; a[mt][1] = qf[mt][kc][1]; a[mt][2] = qf[mt][kc][2]; a[mt][3] = qf[mt][kc][3];
        } else {
          ldsm_x4(a[mt], sQ + L::chunk(wrow + mt * 16 + (lane & 15), 2 * kc + (lane >> 4)) * 16);
        }
      }
#pragma unroll
      for (int np = 0; np < NB / 2; ++np) {
        uint32_t bb[4];
        ldsm_x4(bb, sK + L::chunk(np * 16 + (lane & 7) + ((lane >> 4) << 3), 2 * kc + ((lane >> 3) & 1)) * 16);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          M::mma(s[mt][2 * np], a[mt], bb);
          M::mma(s[mt][2 * np + 1], a[mt], bb + 2);
        }
      }
    }

    // mask the tile's invisible entries (raw scores -> -inf) and add the bias, only on tiles that
    // need it: a separate loop, so that its compares are not if-converted into every tile (PERF_LOG.md)
    if constexpr (BIAS) {
      // a partial tile's bias read by type (add_partial: its loads issued together, where one load per element in
      // the kind's switch ran ALiBi at a tenth of SDPA's speed), then the band's test only where the band cuts (rows
      // past Nq are never stored; hidden tiles were skipped above)
      const bool band_cut = masked(n0);
      if (bst == kTilePartial) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
          t.bias.template add_partial<NB, false>(p, &s[mt][0][0], m0 + wrow + mt * 16 + g, n0 + 2 * t4, Nq, Nk);
      }
      if (band_cut) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int n = 0; n < NB; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int row = m0 + wrow + mt * 16 + g + (e >> 1) * 8;
              const int col = n0 + n * 8 + 2 * t4 + (e & 1);
              s[mt][n][e] = vis.shows(row, col) ? s[mt][n][e] : -INFINITY;
            }
      }
    } else if (masked(n0) || bst != kTileFull) {  // (unbiased: the text that compiled as before the bias was typed)
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int n = 0; n < NB; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int row = m0 + wrow + mt * 16 + g + (e >> 1) * 8;
            const int col = n0 + n * 8 + 2 * t4 + (e & 1);
            s[mt][n][e] = ScoreBias<BIAS>::shows(vis, row, col) ? t.bias.apply(p, s[mt][n][e], row, col, bst) : -INFINITY;
          }
    }

    // online softmax (each thread holds rows g and g+8 of every m-tile), m in the log2 domain;
    // the scale (> 0, the launcher's contract) is folded into one FFMA per score
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float mx = -INFINITY;
#pragma unroll
        for (int n = 0; n < NB; ++n) mx = fmaxf(mx, fmaxf(s[mt][n][2 * r], s[mt][n][2 * r + 1]));
        mx = quad_max(mx);
        const float mnew = fmaxf(mrow[mt][r], mx * sl2);
        const float mu = (mnew == -INFINITY) ? 0.f : mnew;  // all masked so far: avoid inf - inf
        const float alpha = ex2(mrow[mt][r] - mu);
        mrow[mt][r] = mnew;
        float sum = 0.f;
#pragma unroll
        for (int n = 0; n < NB; ++n) {
          const float p0 = ex2(fmaf(s[mt][n][2 * r], sl2, -mu)), p1 = ex2(fmaf(s[mt][n][2 * r + 1], sl2, -mu));
          s[mt][n][2 * r] = p0;
          s[mt][n][2 * r + 1] = p1;
          sum += p0 + p1;
        }
        lrow[mt][r] = lrow[mt][r] * alpha + sum;
#pragma unroll
        for (int d = 0; d < ND; ++d) {
          acc[mt][d][2 * r] *= alpha;
          acc[mt][d][2 * r + 1] *= alpha;
        }
      }

    // dropout of P, after the row sums (the softmax and LSE are those of the undropped P): byte
    // masks applied to P packed to 16 bits below; the keep scale multiplies O once, in the epilogue
    uint32_t dm[MT][BC / 16][2];
    if (t.drop.on()) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
        t.drop.template for_masks<BC / 16>(m0 + wrow + mt * 16, n0, g, t4, [&](int kk, uint32_t r0, uint32_t r1) {
          dm[mt][kk][0] = r0;
          dm[mt][kk][1] = r1;
        });
    }

    // O += P V  (P from registers, V^T fragments through ldmatrix.trans)
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        a[mt][0] = M::pack(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        a[mt][1] = M::pack(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        a[mt][2] = M::pack(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        a[mt][3] = M::pack(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        if (t.drop.on()) Dropout::drop_packed(a[mt], dm[mt][kk][0], dm[mt][kk][1]);
      }
#pragma unroll
      for (int dp = 0; dp < ND / 2; ++dp) {
        uint32_t bb[4];
        ldsm_x4_t(bb, sV + L::chunk(kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, 2 * dp + (lane >> 4)) * 16);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          M::mma(acc[mt][2 * dp], a[mt], bb);
          M::mma(acc[mt][2 * dp + 1], a[mt], bb + 2);
        }
      }
    }
    __syncthreads();  // stage st is overwritten by the prefetch of the next iteration
  }

  // epilogue: normalise; 16-bit O is staged in shared memory (this warp's own Q rows) and stored
  // 16 B at a time, float O (mixed kernels) is stored from the registers
  constexpr bool kStaged = std::is_same_v<T, TO>;
  unsigned char* sQp = smem;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float l = quad_sum(lrow[mt][r]);
      const float inv = l > 0.f ? (t.drop.on() ? t.drop.scale : 1.f) / l : 0.f;  // dropout: the keep scale
      const int lrow_in_tile = wrow + mt * 16 + g + 8 * r;
      const int row = m0 + lrow_in_tile;
#pragma unroll
      for (int d = 0; d < ND; ++d) {
        const int col = d * 8 + 2 * t4;
        if constexpr (kStaged) {
          *reinterpret_cast<uint32_t*>(sQp + L::chunk(lrow_in_tile, col >> 3) * 16 + (col & 7) * 2) =
              M::pack(acc[mt][d][2 * r] * inv, acc[mt][d][2 * r + 1] * inv);
        } else if (row < Nq && col < hd) {
          store_pair<TO>(og + (int64_t)row * p.o.row_stride + col, acc[mt][d][2 * r] * inv,
                         acc[mt][d][2 * r + 1] * inv, col + 1 < hd);
        }
      }
      if (t4 == 0 && row < Nq) lseg[row] = l > 0.f ? (mrow[mt][r] + __log2f(l)) * kLn2 : -INFINITY;
    }
  if constexpr (kStaged) {
    __syncwarp();
#pragma unroll
    for (int i = lane; i < 16 * MT * ND; i += 32) {
      const int r = wrow + i / ND, c = i % ND;
      if (m0 + r < Nq && c * 8 < hd)
        *reinterpret_cast<uint4*>(og + (int64_t)(m0 + r) * p.o.row_stride + c * 8) =
            *reinterpret_cast<const uint4*>(sQp + L::chunk(r, c) * 16);
    }
  }
}

}  // namespace fdjl
