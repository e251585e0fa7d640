// flash_tf32.cuh - float32-accurate products on the tensor cores: 3xTF32.
//
// Each float32 operand x is split into big = tf32(x) and small = tf32(x - big) (round to nearest;
// tf32 keeps 11 significant bits, so big + small holds 22 of float32's 24). A product a*b is then
// a_small*b_big + a_big*b_small + a_big*b_big on mma.m16n8k8.tf32 with float32 accumulation; the
// dropped a_small*b_small and the split residues are about 2^-22 of the product. Three MMAs per
// product: a third of the tf32 rate, which is half the bf16 rate.
//
// What limits the accuracy is not the split but the accumulation (measured, PERF_LOG "The float32
// kernels' error"): an MMA adds its products into the accumulator after aligning them to the
// largest exponent and truncating the rest, so every MMA that adds into a sum errs by up to an
// ulp of that sum, all with one sign; a split made exact with a third part (6 MMAs) did not help.
// So the small terms, which are 2^-11 of the sum, chain in a fragment of their own (their
// truncation is 2^-11 of an ulp), and big x big, the only MMA at the sum's scale, starts from a
// zero accumulator and is added with an ordinary (round-to-nearest) float32 add.
//
// Fragments of mma.m16n8k8 with .tf32 (lane = 4*g + t): A (16x8, row major) a0 = (g, t),
// a1 = (g+8, t), a2 = (g, t+4), a3 = (g+8, t+4); B (8x8, "col") b0 = (t, g), b1 = (t+4, g);
// C as in m16n8k16. ldmatrix (b16) on float32 rows hands thread (g, t) the float (row g, col t) of
// each 8x4-float matrix: exactly A's and B's fragments when the matrix rows are A's rows or B's
// columns (Q and K in S = Q K^T). Operands read along their rows instead (V in P V) are loaded
// with scalar shared-memory loads.
#pragma once
#include "flash_common.cuh"
#include "flash_wgmma.cuh"

namespace fdjl {

struct Tf32x3 {
  // Round to nearest, ties away from zero, as cvt.rna.tf32.f32: half a tf32 ulp added to the
  // magnitude's bits, then the 13 low bits cleared (the carry moves into the exponent where it
  // must). Two integer instructions (and ptxas drops the mask where a part only feeds an MMA, whose
  // tf32 operands ignore those bits); cvt.rna compiles to four on sm_90, for NaN and infinity, and
  // splits were a third of the 3xTF32 kernels' instructions (PERF_LOG "The float32 FULL kernels'
  // instructions"). Every finite input gives cvt's bits; infinity stays infinity; a NaN whose
  // payload sits in the low 13 bits becomes infinity, and its small part (x - big) is NaN, so the
  // product still is.
  __device__ __forceinline__ static uint32_t to_tf32(float x) { return (__float_as_uint(x) + 0x1000u) & 0xffffe000u; }
  // big and small parts of n floats (given as their bits)
  template <int N>
  __device__ __forceinline__ static void split(const uint32_t* x, uint32_t* big, uint32_t* small) {
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const float f = __uint_as_float(x[i]);
      big[i] = to_tf32(f);
      small[i] = to_tf32(f - __uint_as_float(big[i]));
    }
  }
  // d += a * b
  __device__ __forceinline__ static void mma1(float* d, const uint32_t* a, const uint32_t* b) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
  // d = a * b (a zero accumulator; zeroing d and calling mma1 compiles to other code than the one measured)
  __device__ __forceinline__ static void mma1z(float* d, const uint32_t* a, const uint32_t* b) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%10,%10,%10,%10};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(0.f));
  }
  // lo += the small terms of a * b (a_small * b_big + a_big * b_small)
  __device__ __forceinline__ static void mma_small(float* lo, const uint32_t* a_big, const uint32_t* a_small,
                                                   const uint32_t* b_big, const uint32_t* b_small) {
    mma1(lo, a_small, b_big);
    mma1(lo, a_big, b_small);
  }
};

// Float32 tile in shared memory: row stride D + 4 floats. The 4 extra floats make ldmatrix's eight
// rows (16-byte chunks, odd chunk stride) and the scalar column reads of P V (rows 2t, 2t+1 at
// column g: banks 8t + g) conflict-free.
template <int D> struct F32Lay {
  static constexpr int RS = D + 4;  // floats per row
  static constexpr __host__ __device__ int bytes(int rows) { return rows * RS * 4; }
  static __device__ __forceinline__ uint32_t at(uint32_t base, int row, int col) { return base + (row * RS + col) * 4; }
};

// cp.async of a ROWS x D float32 tile (rows row0.. of a [N, row_stride] matrix) into an F32Lay
// tile; rows >= nvalid and columns >= head_dim are zero-filled, never read. vec: 16-byte copies
// (rows 16-byte aligned and head_dim % 4 == 0), else 4-byte copies.
template <int D, int ROWS, int NT>
__device__ __forceinline__ void load_f32_tile(uint32_t sbase, const float* g, int64_t row_stride, int row0, int nvalid,
                                              int head_dim, int tid, bool vec) {
  using L = F32Lay<D>;
  constexpr int C = D / 4, TOTAL = ROWS * C;
  // Where NT is a multiple of C, each thread can keep its column and step NT / C rows: one 64-bit add per copy
  // instead of a multiply and the bounds. Measured (PERF_LOG "The float32 FULL kernels' instructions", step 2): the
  // d = 64 backward 1.05x, d = 32 level, d = 128 0.96x (its kernels were reallocated from 255 registers to 168),
  // so D <= 64 only.
  if constexpr (NT % C == 0 && D <= 64) {
    if (vec) {
      constexpr int RSTEP = NT / C;
      const int r0 = tid / C, c = tid % C;
      const bool col_ok = c * 4 < head_dim;
      const int64_t off0 = (int64_t)(row0 + r0) * row_stride + c * 4, step = (int64_t)RSTEP * row_stride;
#pragma unroll
      for (int k = 0; k < (TOTAL + NT - 1) / NT; ++k) {
        const int r = r0 + k * RSTEP;
        if (TOTAL % NT == 0 || r < ROWS) {
          const bool ok = col_ok && r < nvalid;
          cp_async16(L::at(sbase, r, c * 4), ok ? g + (off0 + k * step) : g, ok);
        }
      }
      return;
    }
  }
  if (vec) {
#pragma unroll
    for (int i0 = 0; i0 < TOTAL; i0 += NT) {
      const int i = i0 + tid;
      if (TOTAL % NT == 0 || i < TOTAL) {
        const int r = i / C, c = i % C;
        const bool ok = r < nvalid && c * 4 < head_dim;
        const float* src = ok ? g + (int64_t)(row0 + r) * row_stride + c * 4 : g;
        cp_async16(L::at(sbase, r, c * 4), src, ok);
      }
    }
  } else {
    for (int i = tid; i < ROWS * D; i += NT) {
      const int r = i / D, c = i % D;
      const bool ok = r < nvalid && c < head_dim;
      const float* src = ok ? g + (int64_t)(row0 + r) * row_stride + c : g;
      asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(L::at(sbase, r, c)), "l"(src),
                   "r"(ok ? 4 : 0));
    }
  }
}

// A float32 tile split once into its tf32 parts: two F32Lay planes of the same rows and columns, big and small (the
// values Tf32x3::split gives), read by the products below instead of the float32 tile (Tf32Tile::split_once).
struct Tf32Planes {
  float* big;
  float* small;
};

// Splits a ROWS x D float32 tile (F32Lay, all D columns written: load_f32_tile zero-fills) into planes, all NT
// threads together, 16 bytes at a time.
template <int D, int ROWS, int NT>
__device__ __forceinline__ void split_f32_tile(const float* raw, Tf32Planes planes, int tid) {
  using L = F32Lay<D>;
  constexpr int C = D / 4, TOTAL = ROWS * C;
#pragma unroll
  for (int i0 = 0; i0 < TOTAL; i0 += NT) {
    const int i = i0 + tid;
    if (TOTAL % NT == 0 || i < TOTAL) {
      const int at = (i / C) * L::RS + (i % C) * 4;
      const uint4 x4 = *reinterpret_cast<const uint4*>(raw + at);
      const uint32_t x[4] = {x4.x, x4.y, x4.z, x4.w};
      uint32_t big[4], small[4];
      Tf32x3::split<4>(x, big, small);
      *reinterpret_cast<uint4*>(planes.big + at) = make_uint4(big[0], big[1], big[2], big[3]);
      *reinterpret_cast<uint4*>(planes.small + at) = make_uint4(small[0], small[1], small[2], small[3]);
    }
  }
}

// A B operand read along its rows: columns col0.. of an F32Lay<DB> tile whose rows are the product's k index (dQ = dS K
// takes K's rows of keys), split as it is read. Its k index is permuted as tf32_regs_rows's, so that the scalar loads
// hit no bank twice (rows 2t and 2t + 1 at column g: banks 8t + g): k8 position t is row 2t of the step, t + 4 is
// row 2t + 1. The A tile must hold its columns in that order (tf32_cols_order).
template <int DB> struct Tf32Cols {
  const float* tile;
  int col0;
};
template <class T> struct IsTf32Cols : std::false_type {};
template <int DB> struct IsTf32Cols<Tf32Cols<DB>> : std::true_type {
  static constexpr int RS = F32Lay<DB>::RS;
};
// The same B operand from tf32 planes in the 128B-swizzled K-major layout (flash_wgmma.cuh) of a ROWS x D tile split
// by split_f32_kmajor (dQ = dS K in the wgmma dK/dV kernel, which keeps K only as planes): no split on read. The
// swizzle spreads a warp's reads (rows 2t and 2t + 1, columns col0 + g) over 8 chunk phases: no bank is hit twice.
template <int ROWS> struct Tf32SwCols {
  const unsigned char* big;
  const unsigned char* small;
  int col0;
  __device__ __forceinline__ uint32_t at(int r, int c) const { return sw128<ROWS>(r, c >> 2) + (c & 3) * 4; }
};
template <class T> struct IsTf32SwCols : std::false_type {};
template <int ROWS> struct IsTf32SwCols<Tf32SwCols<ROWS>> : std::true_type {};
// Where column c of each group of 8 goes in an A tile read against Tf32Cols: even columns first, then odd
__host__ __device__ constexpr int tf32_cols_order(int c) { return (c >> 1) + (c & 1) * 4; }

// The two products every 3xTF32 kernel is made of, for one warp's 16 rows (both on F32Lay tiles). Their B operand
// is a float32 tile, split as it is read (uint32_t / const float*: a shared-memory address / pointer; Tf32Cols), or
// a tile's Tf32Planes; the MMAs and their order are the same, so are the results, bit for bit.

// s[n] += A[a0 .. a0+15] . B[n*8 .. n*8+7]^T over the D columns (S = Q K^T, dP = dO V^T, and their
// transposes in dK/dV): A's and B's rows both through ldmatrix. The small terms chain over the whole
// product in lo; each k8 step's big x big is added to s on its own (the header's accumulation).
template <int D, int NB, class BTile>
__device__ __forceinline__ void tf32_rows_rows(float (&s)[NB][4], uint32_t sA, int a0, BTile sB, int lane) {
  using L = F32Lay<D>;
  float lo[NB][4];
#pragma unroll
  for (int n = 0; n < NB; ++n) lo[n][0] = lo[n][1] = lo[n][2] = lo[n][3] = 0.f;
#pragma unroll 2  // (fully unrolled, the forward spills at D >= 64)
  for (int kc = 0; kc < D / 8; ++kc) {
    uint32_t a[4], ab[4], as[4];
    ldsm_x4(a, L::at(sA, a0 + (lane & 15), kc * 8 + (lane >> 4) * 4));
    Tf32x3::split<4>(a, ab, as);
#pragma unroll
    for (int np = 0; np < NB / 2; ++np) {
      uint32_t bbig[4], bsmall[4];
      if constexpr (std::is_same_v<BTile, Tf32Planes>) {
        const int row = np * 16 + (lane & 7) + ((lane >> 4) << 3), col = kc * 8 + ((lane >> 3) & 1) * 4;
        ldsm_x4(bbig, L::at(smem_u32(sB.big), row, col));
        ldsm_x4(bsmall, L::at(smem_u32(sB.small), row, col));
      } else if constexpr (IsTf32Cols<BTile>::value) {  // (ldmatrix's register order: b0, b1 of n8 tile 2np, then 2np+1)
        constexpr int RS = IsTf32Cols<BTile>::RS;
        const float* b = sB.tile + (kc * 8 + 2 * (lane & 3)) * RS + sB.col0 + np * 16 + (lane >> 2);
        const uint32_t bb[4] = {__float_as_uint(b[0]), __float_as_uint(b[RS]), __float_as_uint(b[8]),
                                __float_as_uint(b[RS + 8])};
        Tf32x3::split<4>(bb, bbig, bsmall);
      } else if constexpr (IsTf32SwCols<BTile>::value) {
        const int r = kc * 8 + 2 * (lane & 3), c = sB.col0 + np * 16 + (lane >> 2);
        const uint32_t at[4] = {sB.at(r, c), sB.at(r + 1, c), sB.at(r, c + 8), sB.at(r + 1, c + 8)};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          bbig[i] = *reinterpret_cast<const uint32_t*>(sB.big + at[i]);
          bsmall[i] = *reinterpret_cast<const uint32_t*>(sB.small + at[i]);
        }
      } else {
        uint32_t bb[4];
        ldsm_x4(bb, L::at(sB, np * 16 + (lane & 7) + ((lane >> 4) << 3), kc * 8 + ((lane >> 3) & 1) * 4));
        Tf32x3::split<4>(bb, bbig, bsmall);
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        Tf32x3::mma_small(lo[2 * np + h], ab, as, bbig + 2 * h, bsmall + 2 * h);
        float hi[4];
        Tf32x3::mma1z(hi, ab, bbig + 2 * h);
#pragma unroll
        for (int e = 0; e < 4; ++e) s[2 * np + h][e] += hi[e];
      }
    }
  }
#pragma unroll
  for (int n = 0; n < NB; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) s[n][e] += lo[n][e];
}

// acc[d] += X . B[0 .. NB*8)[d*8 .. d*8+7] with X = x, the accumulator of a tf32_rows_rows (16 rows x
// NB*8), as the A operand (O += P V, dV += P^T dO, dK += dS^T Q, dQ += dS K). mma's k index runs over
// each group of 8 columns of x in the order 0, 2, 4, 6, 1, 3, 5, 7 (x's own register order), and
// B's rows are read with the same permutation by scalar loads (rows 2t and 2t + 1 at column g).
// acc is a running sum over many calls, so each output tile sums kTf32Chunk k8 steps at a time, the
// small terms and big x big in two fresh fragments, and adds them to acc with float32 adds (a
// fragment per k8 step, as in tf32_rows_rows, cost 10-20% for little; keeping the small terms over
// the whole call needs D / 2 more registers).
constexpr int kTf32Chunk = 4;
template <int D, int NB, class BTile>
__device__ __forceinline__ void tf32_regs_rows(float (&acc)[D / 8][4], const float (&x)[NB][4], BTile sB, int lane) {
  using L = F32Lay<D>;
  constexpr int CH = NB < kTf32Chunk ? NB : kTf32Chunk;
  static_assert(NB % CH == 0, "k8 steps in whole chunks");
  const int g = lane >> 2, t4 = lane & 3;
#pragma unroll
  for (int k0 = 0; k0 < NB; k0 += CH) {
    uint32_t ab[CH][4], as[CH][4];  // the chunk's A operand, split once for every output tile
#pragma unroll
    for (int kc = 0; kc < CH; ++kc) {
      const float* xk = x[k0 + kc];
      const uint32_t a[4] = {__float_as_uint(xk[0]), __float_as_uint(xk[2]), __float_as_uint(xk[1]),
                             __float_as_uint(xk[3])};
      Tf32x3::split<4>(a, ab[kc], as[kc]);
    }
#pragma unroll
    for (int d = 0; d < D / 8; ++d) {
      float hi[4] = {}, lo[4] = {};
#pragma unroll
      for (int kc = 0; kc < CH; ++kc) {
        uint32_t bbig[2], bsmall[2];
        if constexpr (std::is_same_v<BTile, Tf32Planes>) {
          const int at = ((k0 + kc) * 8 + 2 * t4) * L::RS + g + d * 8;
          bbig[0] = __float_as_uint(sB.big[at]);
          bbig[1] = __float_as_uint(sB.big[at + L::RS]);
          bsmall[0] = __float_as_uint(sB.small[at]);
          bsmall[1] = __float_as_uint(sB.small[at + L::RS]);
        } else {
          const float* b0 = sB + ((k0 + kc) * 8 + 2 * t4) * L::RS + g + d * 8;
          const uint32_t b[2] = {__float_as_uint(b0[0]), __float_as_uint(b0[L::RS])};
          Tf32x3::split<2>(b, bbig, bsmall);
        }
        Tf32x3::mma_small(lo, ab[kc], as[kc], bbig, bsmall);
        Tf32x3::mma1(hi, ab[kc], bbig);
      }
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[d][e] += hi[e] + lo[e];
    }
  }
}

// Whether a tensor's rows can be copied 16 bytes at a time (the whole launch takes one path).
__device__ __forceinline__ bool rows_16b_aligned(const FlashTensor& t, int head_dim) {
  return head_dim % 4 == 0 && (reinterpret_cast<uintptr_t>(t.data) & 15) == 0 && t.batch_stride % 4 == 0 &&
         t.head_stride % 4 == 0 && t.row_stride % 4 == 0;
}

}  // namespace fdjl
