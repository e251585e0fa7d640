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
#include "flash_fwd_sm90.cuh"

namespace fdjl {

// W warps, MT m16 tiles per warp (BR = 16*MT*W query rows), BC keys per K/V tile,
// QR: keep Q fragments in registers, MINB: CTAs per SM asked of the register allocator.
template <int W_, int MT_, int BC_, int QR_, int MINB_> struct FwdC {
  static constexpr int W = W_, MT = MT_, BC = BC_, QR = QR_, MINB = MINB_;
};
#ifndef FDJL_FWD_KUNROLL
#define FDJL_FWD_KUNROLL 2  // k16 steps unrolled when Q is read from shared memory
#endif
#ifndef FDJL_FWD32
#define FDJL_FWD32 4, 2, 64, 1, 1
#endif
#ifndef FDJL_FWD64
#define FDJL_FWD64 4, 2, 64, 1, 1
#endif
#ifndef FDJL_FWD96
#define FDJL_FWD96 4, 2, 32, 0, 1
#endif
#ifndef FDJL_FWD128
#if FDJL_SM90  // same as sm_80: every 2-CTA or 32-row-warp variant measured so far spills
#define FDJL_FWD128 8, 1, 64, 1, 1
#else
#define FDJL_FWD128 8, 1, 64, 1, 1
#endif
#endif
#ifndef FDJL_FWD256
#define FDJL_FWD256 4, 1, 32, 0, 1
#endif
template <int D> struct FwdCfg;
template <> struct FwdCfg<32> : FwdC<FDJL_FWD32> {};
template <> struct FwdCfg<64> : FwdC<FDJL_FWD64> {};
template <> struct FwdCfg<96> : FwdC<FDJL_FWD96> {};
template <> struct FwdCfg<128> : FwdC<FDJL_FWD128> {};
template <> struct FwdCfg<256> : FwdC<FDJL_FWD256> {};

template <int D> struct FwdMmaShape {
  static constexpr int W = FwdCfg<D>::W, MT = FwdCfg<D>::MT, BC = FwdCfg<D>::BC;
  static constexpr int BR = 16 * MT * W;
  static constexpr int THREADS = 32 * W, MINB = FwdCfg<D>::MINB;
  static constexpr int SMEM = Lay<D>::bytes(BR) + 4 * Lay<D>::bytes(BC);
};

// the launch shape of flash_fwd_<dt>_hd<D> in the pass being compiled
template <int D, bool WG = FwdOnWgmma<D>::value> struct FwdShape : FwdMmaShape<D> {};
template <int D> struct FwdShape<D, true> : FwdWgShape<D> {};

template <typename T, int D>
__device__ __forceinline__ void fwd_mma_kernel(const FlashFwdParams& p) {
  using S_ = FwdMmaShape<D>;
  using L = Lay<D>;
  using M = Mma<T>;
  constexpr int W = S_::W, MT = S_::MT, BC = S_::BC, BR = S_::BR, NT = S_::THREADS;
  constexpr int KC = D / 16;  // k16 steps over the head dim
  constexpr int NB = BC / 8;  // n8 tiles of S
  constexpr int ND = D / 8;   // n8 tiles of O
  constexpr bool QREG = FwdCfg<D>::QR != 0;  // keep Q fragments in registers
  constexpr int KUNROLL = FDJL_FWD_KUNROLL;
  (void)W;

  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const FwdTile<T> t(p, blockIdx.x, BR);
  const int Nq = t.Nq, Nk = t.Nk, hd = t.hd, m0 = t.m0, offset = t.offset;
  const bool causal = t.causal;
  const T *qg = t.q, *kg = t.k, *vg = t.v;
  T* og = t.o;
  float* lseg = t.lse;

  const int n_tiles = t.n_tiles(BR, BC);  // causal: later tiles are fully masked, skipped
  if (n_tiles == 0) {
    t.template write_empty<D, BR, NT>(p.o_row_stride, tid);
    return;
  }

  const uint32_t sQ = smem_u32(smem);
  const uint32_t sK0 = sQ + L::bytes(BR);
  const uint32_t sV0 = sK0 + 2 * L::bytes(BC);

  load_tile<D, BR, NT>(sQ, qg, p.q_row_stride, m0, Nq - m0, hd, tid);
  load_tile<D, BC, NT>(sK0, kg, p.k_row_stride, 0, Nk, hd, tid);
  load_tile<D, BC, NT>(sV0, vg, p.v_row_stride, 0, Nk, hd, tid);
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

  for (int j = 0; j < n_tiles; ++j) {
    const int st = j & 1;
    if (j + 1 < n_tiles) {  // prefetch tile j+1 into the other stage
      const int nn = (j + 1) * BC;
      load_tile<D, BC, NT>(sK0 + (st ^ 1) * L::bytes(BC), kg, p.k_row_stride, nn, Nk - nn, hd, tid);
      load_tile<D, BC, NT>(sV0 + (st ^ 1) * L::bytes(BC), vg, p.v_row_stride, nn, Nk - nn, hd, tid);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const uint32_t sK = sK0 + st * L::bytes(BC);
    const uint32_t sV = sV0 + st * L::bytes(BC);

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

    // mask the tile's invalid / causal entries (raw scores -> -inf), only on tiles that need it:
    // a separate loop, so that its compares are not if-converted into every tile (PERF_LOG.md)
    if (t.needs_mask(j, BC)) {
      const int n0 = j * BC;
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int n = 0; n < NB; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int row = m0 + wrow + mt * 16 + g + (e >> 1) * 8;
            const int col = n0 + n * 8 + 2 * t4 + (e & 1);
            if (col >= Nk || (causal && col > row + offset)) s[mt][n][e] = -INFINITY;
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

  // epilogue: normalise, stage this warp's rows in shared memory (its own Q rows), store 16 B
  unsigned char* sQp = smem;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float l = quad_sum(lrow[mt][r]);
      const float inv = l > 0.f ? 1.f / l : 0.f;
      const int lrow_in_tile = wrow + mt * 16 + g + 8 * r;
#pragma unroll
      for (int d = 0; d < ND; ++d) {
        const int col = d * 8 + 2 * t4;
        *reinterpret_cast<uint32_t*>(sQp + L::chunk(lrow_in_tile, col >> 3) * 16 + (col & 7) * 2) =
            M::pack(acc[mt][d][2 * r] * inv, acc[mt][d][2 * r + 1] * inv);
      }
      const int row = m0 + lrow_in_tile;
      if (t4 == 0 && row < Nq) lseg[row] = l > 0.f ? (mrow[mt][r] + __log2f(l)) * kLn2 : -INFINITY;
    }
  __syncwarp();
#pragma unroll
  for (int i = lane; i < 16 * MT * ND; i += 32) {
    const int r = wrow + i / ND, c = i % ND;
    if (m0 + r < Nq && c * 8 < hd)
      *reinterpret_cast<uint4*>(og + (int64_t)(m0 + r) * p.o_row_stride + c * 8) =
          *reinterpret_cast<const uint4*>(sQp + L::chunk(r, c) * 16);
  }
}

template <typename T, int D>
__device__ __forceinline__ void fwd_kernel(const FlashFwdParams& p) {
  if constexpr (FwdOnWgmma<D>::value) fwd_wgmma_kernel<T, D>(p);
  else fwd_mma_kernel<T, D>(p);
}

}  // namespace fdjl
