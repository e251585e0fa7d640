// flash_tf32_wg.cuh - 3xTF32 (flash_tf32.cuh) on Hopper warpgroup MMAs (sm_90a): float32 tiles split into tf32
// planes in the 128B-swizzled K-major layout that wgmma reads (tf32 has no transposed form, so an operand whose k
// index runs along its rows is split transposed), and the two products the float32 wgmma kernels are made of. The
// arithmetic is flash_tf32.cuh's: the small terms chain, each big x big reaches the sum through a float32 add.
// K-major planes of ROWS rows: k8 step kc at byte (kc / 4) * ROWS * 128 + (kc % 4) * 32 (tf32_kstep).
#pragma once
#include "flash_common.cuh"
#include "flash_tf32.cuh"
#include "flash_wgmma.cuh"

namespace fdjl {

// byte offset of k8 step kc in K-major planes of ROWS rows (32 floats per 128-byte block)
template <int ROWS>
__host__ __device__ constexpr uint32_t tf32_kstep(int kc) { return (uint32_t)((kc >> 2) * ROWS * 128 + (kc & 3) * 32); }

// A ROWS x D float32 tile (F32Lay rows, all D columns written) split into tf32 planes in the swizzled K-major layout:
// rows are the operand's M or N, its D columns the k dimension. Each thread moves 16 bytes at a time.
template <int D, int ROWS, int NT>
__device__ __forceinline__ void split_f32_kmajor(const float* raw, unsigned char* big, unsigned char* small, int tid) {
  constexpr int C = D / 4, TOTAL = ROWS * C;
  static_assert(TOTAL % NT == 0, "whole passes");
#pragma unroll 4
  for (int i0 = 0; i0 < TOTAL; i0 += NT) {
    const int i = i0 + tid, r = i / C, c = i % C;
    const uint4 x4 = *reinterpret_cast<const uint4*>(raw + r * F32Lay<D>::RS + c * 4);
    const uint32_t x[4] = {x4.x, x4.y, x4.z, x4.w};
    uint32_t b[4], s[4];
    Tf32x3::split<4>(x, b, s);
    const uint32_t at = sw128<ROWS>(r, c);
    *reinterpret_cast<uint4*>(big + at) = make_uint4(b[0], b[1], b[2], b[3]);
    *reinterpret_cast<uint4*>(small + at) = make_uint4(s[0], s[1], s[2], s[3]);
  }
}

// A ROWS x D tile (F32Lay) split into planes transposed: D rows of ROWS k positions, the K-major B operand of a
// product whose k index is the tile's rows (V in O += P V; dO and Q in dV += P^T dO and dK += dS^T Q). Within each
// group of 8 rows, k position q holds row 2q (q < 4) or 2(q - 4) + 1: an accumulator's registers give a thread
// columns 2t and 2t + 1 of each group, which the tf32 A layout takes as k positions t and t + 4 (wg_tf32_regs_rows).
// A warp takes 32 head dims of one 16-byte chunk (four rows): its loads are one row each, its stores one chunk of
// 32 rows (4 bank-free wavefronts).
template <int D, int ROWS, int NT>
__device__ __forceinline__ void split_f32_vt(const float* raw, unsigned char* big, unsigned char* small, int tid) {
  constexpr int C = ROWS / 4, TOTAL = D * C;
  static_assert(TOTAL % NT == 0 && D % 32 == 0, "whole passes; a warp's 32 head dims in one chunk");
  static_assert(ROWS % 32 == 0, "rows of whole 128-byte swizzle rows (shorter ones would need a narrower swizzle)");
#pragma unroll 4
  for (int i0 = 0; i0 < TOTAL; i0 += NT) {
    const int i = i0 + tid, d = i % D, c = i / D;
    const int row0 = 8 * (c >> 1) + (c & 1);  // chunk c: rows row0, row0 + 2, row0 + 4, row0 + 6
    const float* v = raw + row0 * F32Lay<D>::RS + d;
    const uint32_t x[4] = {__float_as_uint(v[0]), __float_as_uint(v[2 * F32Lay<D>::RS]),
                           __float_as_uint(v[4 * F32Lay<D>::RS]), __float_as_uint(v[6 * F32Lay<D>::RS])};
    uint32_t b[4], s[4];
    Tf32x3::split<4>(x, b, s);
    const uint32_t at = sw128<D>(d, c);
    *reinterpret_cast<uint4*>(big + at) = make_uint4(b[0], b[1], b[2], b[3]);
    *reinterpret_cast<uint4*>(small + at) = make_uint4(s[0], s[1], s[2], s[3]);
  }
}


// s = A B^T over KSTEPS k8 steps (S^T = K Q^T and dP^T = V dO^T; the forward's S = Q K^T is the same, written out
// in flash_fwd_tf32_wg.cuh): A's 64 rows and B's N rows from K-major planes (descriptors ab/as, bb/bs; A_ROWS: the rows
// of A's planes, B's have N). The small terms over all steps in one accumulator; big x big per k8 step in a fresh
// one, added to s with a float32 add. Two such accumulators take turns: step kc is issued before step kc - 1 (whose
// group has then completed: wait_group 1) is added, so the tensor cores do not idle during the adds.
template <int N, int KSTEPS, int A_ROWS>
__device__ __forceinline__ void wg_tf32_scores(float (&s)[N / 8][4], const WgDesc& ab, const WgDesc& as,
                                               const WgDesc& bb, const WgDesc& bs) {
  constexpr int NB = N / 8;
  float lo[NB][4], hi[2][NB][4];
  auto add_hi = [&](int kc) {
    wg_pin<4 * NB>(&hi[kc % 2][0][0]);
#pragma unroll
    for (int n = 0; n < NB; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[n][e] = kc == 0 ? hi[kc % 2][n][e] : s[n][e] + hi[kc % 2][n][e];
  };
#pragma unroll
  for (int kc = 0; kc < KSTEPS; ++kc) {
    wg_fence();
    WgmmaTf32<N>::ss(&lo[0][0], as.at(tf32_kstep<A_ROWS>(kc)), bb.at(tf32_kstep<N>(kc)), kc > 0);
    WgmmaTf32<N>::ss(&lo[0][0], ab.at(tf32_kstep<A_ROWS>(kc)), bs.at(tf32_kstep<N>(kc)), 1);
    WgmmaTf32<N>::ss(&hi[kc % 2][0][0], ab.at(tf32_kstep<A_ROWS>(kc)), bb.at(tf32_kstep<N>(kc)), 0);
    wg_commit();
    if (kc > 0) {
      wg_wait<1>();
      add_hi(kc - 1);
    }
  }
  wg_wait<0>();
  add_hi(KSTEPS - 1);
  wg_pin<4 * NB>(&lo[0][0]);
#pragma unroll
  for (int n = 0; n < NB; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) s[n][e] += lo[n][e];
}

// acc += X B (dV += P^T dO and dK += dS^T Q; the forward's O += P V is the same): X, a warpgroup accumulator of 64
// rows x NB*8, is the A operand from registers (its k8 step kc: columns 2t, 2t + 1 as k positions t, t + 4); B's N rows
// from planes split transposed (split_f32_vt: N rows, k along them). Each chunk of kTf32Chunk k8 steps in a fresh
// accumulator, small terms first, added to acc with float32 adds.
template <int N, int NB>
__device__ __forceinline__ void wg_tf32_regs_rows(float (&acc)[N / 8][4], const float (&x)[NB][4], const WgDesc& bb,
                                                  const WgDesc& bs) {
  constexpr int ND = N / 8;
  constexpr int CH = kTf32Chunk < NB ? kTf32Chunk : NB;
  static_assert(NB % CH == 0, "k steps in whole chunks");
  uint32_t xb[NB][4], xs[NB][4];
#pragma unroll
  for (int kc = 0; kc < NB; ++kc) {
    const uint32_t a[4] = {__float_as_uint(x[kc][0]), __float_as_uint(x[kc][2]), __float_as_uint(x[kc][1]),
                           __float_as_uint(x[kc][3])};
    Tf32x3::split<4>(a, xb[kc], xs[kc]);
  }
#pragma unroll
  for (int c = 0; c < NB / CH; ++c) {
    float o[ND][4];
    wg_fence();
#pragma unroll
    for (int kc = c * CH; kc < (c + 1) * CH; ++kc) {
      WgmmaTf32<N>::rs(&o[0][0], xs[kc], bb.at(tf32_kstep<N>(kc)), kc > c * CH);
      WgmmaTf32<N>::rs(&o[0][0], xb[kc], bs.at(tf32_kstep<N>(kc)), 1);
    }
#pragma unroll
    for (int kc = c * CH; kc < (c + 1) * CH; ++kc) WgmmaTf32<N>::rs(&o[0][0], xb[kc], bb.at(tf32_kstep<N>(kc)), 1);
    wg_commit();
    wg_wait<0>();
    wg_pin<4 * ND>(&o[0][0]);
#pragma unroll
    for (int d = 0; d < ND; ++d)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[d][e] += o[d][e];
  }
}

}  // namespace fdjl
