// flash_common.cuh - small device helpers shared by the flash-djl kernels:
// tensor-core MMA (mma.sync m16n8k16, fp32 accumulate), ldmatrix, cp.async,
// a bank-conflict-free shared-memory row layout and warp reductions.
//
// Fragment layouts of mma.m16n8k16 (lane = 4*g + t, g = lane>>2, t = lane&3):
//   A (16x16, row major), 4 regs of 2 halves: a0 = (row g,   k 2t..2t+1)   a1 = (row g+8, k 2t..2t+1)
//                                             a2 = (row g,   k 2t+8..2t+9) a3 = (row g+8, k 2t+8..)
//   B (16x8, "col"),      2 regs:             b0 = (k 2t..2t+1, col g)     b1 = (k 2t+8..2t+9, col g)
//   C (16x8, fp32),       4 regs:             c0,c1 = (row g, col 2t..2t+1) c2,c3 = (row g+8, col 2t..)
// ldmatrix.x4: lanes 8i..8i+7 give the row addresses of 8x8 matrix i; register i of every lane
// then holds (row g, cols 2t..2t+1) of matrix i (or, with .trans, (rows 2t..2t+1, col g)).
#pragma once
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>
#include <type_traits>
#include "flash_params.h"
#include "flash_views.cuh"

// The device pass being compiled (build-fatbin.sh): FDJL_SM90 in the sm_90a pass (227 KiB of
// shared memory, vector reductions), FDJL_WGMMA where the sm_90a features (warpgroup MMA) exist.
// flash_tiles.h picks the settings and kernel bodies of each pass from these two.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define FDJL_SM90 1
#else
#define FDJL_SM90 0
#endif
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define FDJL_WGMMA 1
#else
#define FDJL_WGMMA 0
#endif

namespace fdjl {

constexpr float kLog2e = 1.4426950408889634f;
// The backward's P = exp2(S * scale_log2 - lse_log2(lse)): the LSE in the log2 domain, where a row that saw
// no key (LSE -inf) gets +inf, so that its P is 0 rather than NaN.
__host__ __device__ __forceinline__ float lse_log2(float lse) { return lse == -INFINITY ? INFINITY : lse * kLog2e; }
constexpr float kLn2 = 0.6931471805599453f;

template <typename T> struct Mma;

template <> struct Mma<__half> {
  static __device__ __forceinline__ uint32_t pack(float a, float b) {
    __half2 h = __floats2half2_rn(a, b);
    return *reinterpret_cast<uint32_t*>(&h);
  }
  static __device__ __forceinline__ float2 unpack(uint32_t u) {
    __half2 h = *reinterpret_cast<__half2*>(&u);
    return __half22float2(h);
  }
  static __device__ __forceinline__ void mma(float* d, const uint32_t* a, const uint32_t* b) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
};

template <> struct Mma<__nv_bfloat16> {
  static __device__ __forceinline__ uint32_t pack(float a, float b) {
    __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<uint32_t*>(&h);
  }
  static __device__ __forceinline__ float2 unpack(uint32_t u) {
    __nv_bfloat162 h = *reinterpret_cast<__nv_bfloat162*>(&u);
    return __bfloat1622float2(h);
  }
  static __device__ __forceinline__ void mma(float* d, const uint32_t* a, const uint32_t* b) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
};

// ---- element I/O of the data type TO (the type of q, k, v, o and the gradients as the caller
// holds them). TO is the compute type T itself, or float for float32 data computed in T
// ("mixed" kernels: the launcher casts q, k, v, dO to T first, flash_cast.cuh); float rows may
// have any head_dim and any alignment, so float I/O is per element, bounded by `n` valid values.

// p[0] = a and, if second, p[1] = b (two adjacent columns, the first one even)
template <typename TO>
__device__ __forceinline__ void store_pair(TO* p, float a, float b, bool second) {
  if constexpr (std::is_same_v<TO, float>) {
    p[0] = a;
    if (second) p[1] = b;
  } else {
    *reinterpret_cast<uint32_t*>(p) = Mma<TO>::pack(a, b);  // 16-bit rows: head_dim % 8 == 0
  }
}

// the first n (<= 8) of p[0..7] = v (16-bit types: all 8, one 16-byte store)
template <typename TO>
__device__ __forceinline__ void store_chunk(TO* p, const float (&v)[8], int n) {
  if constexpr (std::is_same_v<TO, float>) {
#pragma unroll
    for (int i = 0; i < 8; ++i)
      if (i < n) p[i] = v[i];
  } else {
    uint4 u;
    u.x = Mma<TO>::pack(v[0], v[1]);
    u.y = Mma<TO>::pack(v[2], v[3]);
    u.z = Mma<TO>::pack(v[4], v[5]);
    u.w = Mma<TO>::pack(v[6], v[7]);
    *reinterpret_cast<uint4*>(p) = u;
  }
}

// ---- an accumulator's rows to memory. An m16n8 accumulator (mma.sync's; wgmma's, 8 columns at a time) gives each
// thread two adjacent columns of every 8 of its two rows: register 4d + 2r + e holds column 8d + 2 t4 + e of row r
// (0: the thread's row, 1: the row 8 below).

// The quad's 4 x 4 transpose of W-word values: on entry v[j] is this thread's value for slot j, on return v[i] is
// quad thread i's value for slot t4 (two butterfly exchanges, with lanes t4 ^ 1 and t4 ^ 2). Every lane calls it.
template <int W>
__device__ __forceinline__ void quad_transpose(uint32_t (&v)[4][W], int t4) {
#pragma unroll
  for (int m = 1; m <= 2; m <<= 1) {
    const bool hi = (t4 & m) != 0;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      if (j & m) continue;  // the pair of slots j, j | m: the low thread sends j | m, the high one j
#pragma unroll
      for (int w = 0; w < W; ++w) {
        const uint32_t recv = __shfl_xor_sync(0xffffffffu, hi ? v[j][w] : v[j | m][w], m);
        if (hi) v[j][w] = recv;
        else v[j | m][w] = recv;
      }
    }
  }
}

// Whether rows of TO at `base`, `row_stride` elements apart, take the 16-byte chunks of store_acc_row: 16-bit rows
// always (the launcher's contract: head_dim % 8 == 0, 16-byte aligned rows); float rows where they are 16-byte
// aligned and hold whole chunks
template <typename TO>
__device__ __forceinline__ bool rows_in_chunks(const TO* base, int64_t row_stride, int hd) {
  if constexpr (std::is_same_v<TO, float>)
    return hd % 8 == 0 && row_stride % 4 == 0 && (reinterpret_cast<uintptr_t>(base) & 15) == 0;
  else
    return true;
}

// Row r of an accumulator `acc` over NCOLS columns from col0 (a multiple of 8), times `scale`, into the row whose
// column 0 is at `row`, columns bounded by hd; `ok`: this thread's row is stored. With `chunks` (rows_in_chunks;
// the same across the warp, whose every lane must call), the quad's transpose gives each thread 8 adjacent columns,
// written with 16-byte stores. In 16-bit a warp's store then fills whole 32-byte sectors, where pairs of 4-byte
// stores half-wrote every sector twice and doubled the L2 requests of a short forward (PERF_LOG.md); float rows
// (a block of 8 columns is a sector) trade halves between neighbouring lanes, so that each of their two stores
// writes whole sectors too. Otherwise two columns at a time.
template <typename TO, int NCOLS>
__device__ __forceinline__ void store_acc_row(TO* row, const float* acc, int r, float scale, int col0, int hd,
                                              bool ok, bool chunks, int t4) {
  constexpr bool F32 = std::is_same_v<TO, float>;
  if constexpr (NCOLS % 32 == 0) {
    if (chunks) {
      constexpr int W = F32 ? 2 : 1;  // 32-bit words per pair of columns
#pragma unroll
      for (int k = 0; k < NCOLS / 32; ++k) {  // column blocks 4k .. 4k + 3 of 8 columns
        uint32_t v[4][W];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float a = acc[4 * (4 * k + j) + 2 * r] * scale, b = acc[4 * (4 * k + j) + 2 * r + 1] * scale;
          if constexpr (F32) {
            v[j][0] = __float_as_uint(a);
            v[j][W - 1] = __float_as_uint(b);
          } else {
            v[j][0] = Mma<TO>::pack(a, b);
          }
        }
        quad_transpose<W>(v, t4);  // now v[i]: columns 2i, 2i + 1 of block 4k + t4
        if constexpr (F32) {
          // A block of 8 floats is a whole 32-byte sector: lanes t4 = 2P and 2P + 1 trade halves, so that in each
          // store the pair writes one block (the even lane its columns 0-3, the odd lane 4-7) in one request
          const bool odd = (t4 & 1) != 0;
#pragma unroll
          for (int i = 0; i < 2; ++i)
#pragma unroll
            for (int w = 0; w < W; ++w) {  // the even lane sends its columns 4-7, the odd lane its columns 0-3
              const uint32_t recv = __shfl_xor_sync(0xffffffffu, odd ? v[i][w] : v[2 + i][w], 1);
              if (odd) v[i][w] = recv;
              else v[2 + i][w] = recv;
            }
          // now v[0], v[1]: the half (columns 0-3 even, 4-7 odd) of block 4k + (t4 & 2); v[2], v[3]: of the next
          const int col = col0 + (4 * k + (t4 & 2)) * 8, half = odd ? 4 : 0;
          if (ok && col < hd)
            *reinterpret_cast<uint4*>(row + col + half) = make_uint4(v[0][0], v[0][1], v[1][0], v[1][1]);
          if (ok && col + 8 < hd)
            *reinterpret_cast<uint4*>(row + col + 8 + half) = make_uint4(v[2][0], v[2][1], v[3][0], v[3][1]);
        } else {
          const int col = col0 + (4 * k + t4) * 8;
          if (ok && col < hd) *reinterpret_cast<uint4*>(row + col) = make_uint4(v[0][0], v[1][0], v[2][0], v[3][0]);
        }
      }
      return;
    }
  }
  if (!ok) return;
#pragma unroll
  for (int d = 0; d < NCOLS / 8; ++d) {
    const int col = col0 + d * 8 + 2 * t4;
    if (col < hd) store_pair<TO>(row + col, acc[4 * d + 2 * r] * scale, acc[4 * d + 2 * r + 1] * scale, col + 1 < hd);
  }
}

// v = p[0..7], zero past the first n (16-bit types: one 16-byte load of all 8)
template <typename TI>
__device__ __forceinline__ void load_chunk(const TI* p, float (&v)[8], int n) {
  if constexpr (std::is_same_v<TI, float>) {
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = i < n ? p[i] : 0.f;
  } else {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = Mma<TI>::unpack(w[i]);
      v[2 * i] = f.x;
      v[2 * i + 1] = f.y;
    }
  }
}

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldsm_x4(uint32_t* r, uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t* r, uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}

// 16-byte global->shared copy; when !valid nothing is read and the 16 bytes are zero-filled.
__device__ __forceinline__ void cp_async16(uint32_t saddr, const void* g, bool valid) {
  int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(saddr), "l"(g), "r"(n));
}
// 4-byte global->shared copy (cp.async.ca: the only form below 16 bytes)
__device__ __forceinline__ void cp_async4(uint32_t saddr, const void* g) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(saddr), "l"(g));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// *p += a, *(p+1) += b (p 8-byte aligned): one vector reduction on sm_90, two atomics before.
// VEC = false keeps the two scalar atomics (flash_tiles.h: DkdvMmaTile::vector_dq_reduce).
template <bool VEC>
__device__ __forceinline__ void red_add2(float* p, float a, float b) {
#if FDJL_SM90
  if constexpr (VEC) {
    asm volatile("red.global.add.v2.f32 [%0], {%1, %2};\n" ::"l"(p), "f"(a), "f"(b) : "memory");
    return;
  }
#endif
  atomicAdd(p, a);
  atomicAdd(p + 1, b);
}

// 2^x, hardware approximation (rel. error ~2^-22); ex2(-inf) = +0.
__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}
__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// Shared-memory layout of a tile with COLS 16-bit elements per row, addressed in 16-byte chunks.
// ldmatrix reads 8 rows at one chunk column; the layout makes those 8 reads hit 8 distinct
// bank groups: XOR swizzle (chunk ^ row%8) when a row has a multiple of 8 chunks, a
// (chunk ^ (row/2)%4) swizzle for 4 chunks (COLS 32), and one padding chunk per row for 12
// chunks (COLS 96, odd row stride). Returns the chunk index (multiply by 16 for bytes).
template <int COLS> struct Lay {
  static constexpr int C = COLS / 8;
  static_assert(C == 4 || C == 12 || C % 8 == 0, "unsupported row width");
  static constexpr bool kPad = (C == 12);
  static constexpr int RS = kPad ? C + 1 : C;
  static __device__ __forceinline__ int chunk(int row, int c) {
    if constexpr (kPad) return row * RS + c;
    else if constexpr (C == 4) return row * 4 + (c ^ ((row >> 1) & 3));
    else return row * C + (c ^ (row & 7));
  }
  static constexpr __host__ __device__ int bytes(int rows) { return rows * RS * 16; }
};

// Asynchronously copy a ROWS x COLS tile (rows row0.. of a [N, row_stride] matrix) into shared
// memory at sbase. Rows >= nvalid and columns >= head_dim are zero-filled, never read.
template <int COLS, int ROWS, int NT, typename T>
__device__ __forceinline__ void load_tile(uint32_t sbase, const T* g, int64_t row_stride, int row0,
                                          int nvalid, int head_dim, int tid) {
  constexpr int C = COLS / 8;
  constexpr int TOTAL = ROWS * C;
#pragma unroll
  for (int i0 = 0; i0 < TOTAL; i0 += NT) {
    int i = i0 + tid;
    if (TOTAL % NT == 0 || i < TOTAL) {
      int r = i / C, c = i % C;
      bool ok = (r < nvalid) && (c * 8 < head_dim);
      const T* src = ok ? g + (int64_t)(row0 + r) * row_stride + c * 8 : g;
      cp_async16(sbase + Lay<COLS>::chunk(r, c) * 16, src, ok);
    }
  }
}

}  // namespace fdjl
