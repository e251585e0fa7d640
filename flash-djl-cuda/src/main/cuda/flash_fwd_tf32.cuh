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
#include "flash_fwd_tf32_rows.cuh"
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

    tf32_fwd_mask<NB, BIAS>(t, p, masked, s, bst, m0 + wrow + g, n0, t4);
    tf32_fwd_softmax<NB, ND>(s, acc, mrow, lrow, sl2);

    // O += P V
    tf32_fwd_dropout<NB, BIAS>(t, s, m0 + wrow, n0, g, t4);
    tf32_regs_rows<D, NB>(acc, s, sV, lane);
    __syncthreads();  // stage st is overwritten by the next prefetch
  }

  tf32_fwd_write<ND, BIAS>(t, p, acc, mrow, lrow, m0 + wrow + g, t4);
  t.template write_empty<D, BR, NT>(p.o.row_stride, tid, Nq);  // padding rows, if the tile has any
}

}  // namespace fdjl
