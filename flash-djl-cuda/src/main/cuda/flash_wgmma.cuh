// flash_wgmma.cuh - Hopper (sm_90a) warpgroup MMA helpers: wgmma.mma_async wrappers,
// shared-memory matrix descriptors and the 128-byte swizzled tile layout they read.
//
// A warpgroup (4 consecutive warps, 128 threads) computes D[64 x N] += A[64 x 16] B[16 x N].
// Accumulator layout (per warp w of the group, lane = 4*g + t): register 4*i + e holds
//   row 16*w + g + 8*(e >> 1), column 8*i + 2*t + (e & 1)
// i.e. the mma.sync m16n8 C layout repeated over N/8 column tiles; an A operand taken from
// registers uses the mma.sync m16n8k16 A layout (flash_common.cuh) for the warp's 16 rows.
//
// Tiles in shared memory are stored as column blocks of 64 16-bit elements (128 bytes per row),
// rows contiguous inside a block, with the 16-byte chunk index XORed with (row % 8): the
// canonical 128B-swizzle layout. Blocks and tiles start 1024-byte aligned. Such a tile serves
//  - as a K-major operand (rows = M or N, the 64 columns = K): SBO = 1024 (8-row groups),
//    k16 step = +32 bytes inside the block, next 64 columns = next block;
//  - as an MN-major operand with transpose (rows = K, columns = N): SBO = 1024 (8 rows of K),
//    LBO = the block size in bytes (next 64 columns of N), k16 step = +2048 bytes.
#pragma once
#include <type_traits>
#include "flash_common.cuh"

namespace fdjl {

// byte offset of 16-byte chunk c (0 .. COLS/8-1) of row r in a 128B-swizzled ROWS x COLS tile
template <int ROWS>
__device__ __forceinline__ uint32_t sw128(int r, int c) {
  return (uint32_t)((c >> 3) * ROWS * 128 + r * 128 + (((c & 7) ^ (r & 7)) << 4));
}

// Asynchronous copies of ROWS x COLS tiles (rows row0.. of a [N, row_stride] matrix) into the
// swizzled layout. Each thread's rows, chunk and shared-memory offsets are computed once, so a
// tile costs one pointer and NC cp.async per thread.
// Thread tid copies chunk tid % C of rows tid / C + k * RSTEP (k < NC); RSTEP is a multiple of 8,
// so all of a thread's rows share one swizzle phase.
template <int COLS, int ROWS, int NT> struct SwTileCopierRows {
  static constexpr int C = COLS / 8, RSTEP = NT / C, NC = ROWS * C / NT;
  static_assert(NT % C == 0 && (ROWS * C) % NT == 0 && RSTEP % 8 == 0, "tile shape vs thread count");
  int r0, c8;     // first row, first column of this thread's chunk
  uint32_t soff;  // its byte offset in the swizzled tile
  bool col_ok;    // the chunk lies inside the head dim (else zero-filled)

  __device__ __forceinline__ SwTileCopierRows(int tid, int head_dim) {
    r0 = tid / C;
    c8 = (tid % C) * 8;
    soff = sw128<ROWS>(r0, tid % C);
    col_ok = c8 < head_dim;
  }
  // rows row0 .. row0 + ROWS - 1 of g; rows >= nvalid are zero-filled, never read
  template <typename T>
  __device__ __forceinline__ void copy(uint32_t sbase, const T* g, int64_t row_stride, int row0, int nvalid) const {
    const T* src = g + (int64_t)(row0 + r0) * row_stride + c8;
    const int64_t step = (int64_t)RSTEP * row_stride;
    if (nvalid >= ROWS && col_ok) {  // the common case: a whole tile, no predicates
#pragma unroll
      for (int k = 0; k < NC; ++k) cp_async16(sbase + soff + k * RSTEP * 128, src + k * step, true);
    } else {
#pragma unroll
      for (int k = 0; k < NC; ++k) {
        const bool ok = col_ok && r0 + k * RSTEP < nvalid;
        cp_async16(sbase + soff + k * RSTEP * 128, ok ? src + k * step : g, ok);
      }
    }
  }
};

// Where a row's chunks do not divide the threads (COLS = 192: 24 chunks of 16 bytes), or leave a row step that is
// not a multiple of 8 (COLS = 256 by 128 threads: 4), a tile is copied one 64-column block after the other, each as
// a ROWS x 64 tile of its own.
template <int COLS, int ROWS, int NT> struct SwTileCopierBlocks {
  static_assert(COLS % 64 == 0, "whole 64-column blocks");
  int tid, head_dim;
  __device__ __forceinline__ SwTileCopierBlocks(int tid_, int head_dim_) : tid(tid_), head_dim(head_dim_) {}
  template <typename T>
  __device__ __forceinline__ void copy(uint32_t sbase, const T* g, int64_t row_stride, int row0, int nvalid) const {
#pragma unroll
    for (int b = 0; b < COLS / 64; ++b)
      SwTileCopierRows<64, ROWS, NT>(tid, head_dim - b * 64)
          .copy(sbase + b * ROWS * 128, g + b * 64, row_stride, row0, nvalid);
  }
};
template <int COLS, int ROWS, int NT>
using SwTileCopier = std::conditional_t<NT % (COLS / 8) == 0 && (NT / (COLS / 8)) % 8 == 0,
                                        SwTileCopierRows<COLS, ROWS, NT>, SwTileCopierBlocks<COLS, ROWS, NT>>;

// Shared-memory matrix descriptor, 128B swizzle (bits 62-63 = 1); addresses and offsets >> 4. Made once per tile
// and moved along it by byte offsets (`at`): an offset changes the start-address field alone (bits 0-13; shared
// addresses stay below 2^18, so nothing carries out of it), so each wgmma's operand costs one 32-bit add, where
// building it from every address took five dependent instructions (ncu source counters: about 350 of the 806
// instructions per item of the d = 128 dK/dV kernel's consumers; measured 1.05x median at d = 192 and 256,
// PERF_LOG.md).
struct WgDesc {
  uint32_t lo, hi;
  __device__ __forceinline__ WgDesc(uint32_t saddr, uint32_t lbo, uint32_t sbo)
      : lo(((saddr & 0x3FFFF) >> 4) | ((lbo >> 4) << 16)), hi((sbo >> 4) | (1u << 30)) {}
  // (an asm statement, so that the compiler makes it at its wgmma instead of keeping every moved descriptor of a
  // loop's tiles in registers across the loop, which spilled)
  __device__ __forceinline__ uint64_t at(uint32_t off) const {
    uint64_t d;
    asm volatile("{\n.reg .b32 l;\nadd.u32 l, %1, %2;\nmov.b64 %0, {l, %3};\n}\n" : "=l"(d) : "r"(lo), "r"(off >> 4), "r"(hi));
    return d;
  }
};

// The warpgroup of this thread, broadcast from lane 0: the compiler then knows it is the same across the warp and
// keeps what derives from it (a warpgroup's tiles, their descriptors) in uniform registers, as wgmma wants them
__device__ __forceinline__ int warpgroup_index() { return __shfl_sync(0xffffffffu, threadIdx.x >> 7, 0); }

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// generic-proxy writes to shared memory (cp.async, st.shared) made visible to wgmma
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
// Pins accumulator registers in program order around async MMAs: the compiler must not read
// them before wg_wait nor move writes past wg_fence.
template <int R> __device__ __forceinline__ void wg_pin(float* d) {
#pragma unroll
  for (int i = 0; i < R; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// mbarriers (shared memory, 8 bytes each): the producer/consumer handshakes of a pipeline whose
// threads do not meet at __syncthreads. A phase completes when `count` arrivals have been made.
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.shared::cta.b64 st, [%0];\n}\n" ::"r"(bar) : "memory");
}
// one arrival on `bar` once all cp.async copies this thread issued so far have landed
// (noinc: the arrival is one of the `count` the barrier was initialised with)
__device__ __forceinline__ void cp_async_mbar_arrive(uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
// wait until the phase with parity `parity` of `bar` has completed
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done;
  do {
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done) : "r"(bar), "r"(parity) : "memory");
  } while (!done);
}
// named barriers (ids 1..15; 0 is __syncthreads): sync waits for `n` arrivals, arrive does not wait
template <int N> __device__ __forceinline__ void named_sync(int id) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "n"(N) : "memory");
}
template <int N> __device__ __forceinline__ void named_arrive(int id) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "n"(N) : "memory");
}

// Warp specialisation: a warpgroup that only copies hands registers back, one that computes takes them
// (setmaxnreg; every thread of the warpgroup executes it, and the CTA's total must stay within the file).
template <int R> __device__ __forceinline__ void wg_regs_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(R) : "memory");
}
template <int R> __device__ __forceinline__ void wg_regs_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(R) : "memory");
}

#define FDJL_ACC_REGS_8 "{%0, %1, %2, %3, %4, %5, %6, %7}"
#define FDJL_ACC_REGS_16 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}"
#define FDJL_ACC_REGS_32 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define FDJL_ACC_REGS_64 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define FDJL_ACC_REGS_48 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47}"
#define FDJL_ACC_REGS_128 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}"
#define FDJL_ACC_REGS_96 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95}"
// the accumulator operands d[i] .. d[i + N - 1] of an asm statement, composed from runs of 8
#define FDJL_ACC_OPS_8_AT(d, i) \
    "+f"(d[(i) + 0]), "+f"(d[(i) + 1]), "+f"(d[(i) + 2]), "+f"(d[(i) + 3]), \
    "+f"(d[(i) + 4]), "+f"(d[(i) + 5]), "+f"(d[(i) + 6]), "+f"(d[(i) + 7])
#define FDJL_ACC_OPS_16_AT(d, i) FDJL_ACC_OPS_8_AT(d, i), FDJL_ACC_OPS_8_AT(d, (i) + 8)
#define FDJL_ACC_OPS_32_AT(d, i) FDJL_ACC_OPS_16_AT(d, i), FDJL_ACC_OPS_16_AT(d, (i) + 16)
#define FDJL_ACC_OPS_64_AT(d, i) FDJL_ACC_OPS_32_AT(d, i), FDJL_ACC_OPS_32_AT(d, (i) + 32)
#define FDJL_ACC_OPS_8(d) FDJL_ACC_OPS_8_AT(d, 0)
#define FDJL_ACC_OPS_16(d) FDJL_ACC_OPS_16_AT(d, 0)
#define FDJL_ACC_OPS_32(d) FDJL_ACC_OPS_32_AT(d, 0)
#define FDJL_ACC_OPS_48(d) FDJL_ACC_OPS_32_AT(d, 0), FDJL_ACC_OPS_16_AT(d, 32)
#define FDJL_ACC_OPS_64(d) FDJL_ACC_OPS_64_AT(d, 0)
#define FDJL_ACC_OPS_96(d) FDJL_ACC_OPS_64_AT(d, 0), FDJL_ACC_OPS_32_AT(d, 64)
#define FDJL_ACC_OPS_128(d) FDJL_ACC_OPS_64_AT(d, 0), FDJL_ACC_OPS_64_AT(d, 64)

#define FDJL_SS_PRED_8 "setp.ne.b32 p, %10, 0;\n"
#define FDJL_SS_TAIL_8 ", %8, %9, p, 1, 1, %11, %12;\n"
#define FDJL_RS_PRED_8 "setp.ne.b32 p, %13, 0;\n"
#define FDJL_RS_TAIL_8 ", {%8, %9, %10, %11}, %12, p, 1, 1, %14;\n"
#define FDJL_SS_PRED_16 "setp.ne.b32 p, %18, 0;\n"
#define FDJL_SS_TAIL_16 ", %16, %17, p, 1, 1, %19, %20;\n"
#define FDJL_RS_PRED_16 "setp.ne.b32 p, %21, 0;\n"
#define FDJL_RS_TAIL_16 ", {%16, %17, %18, %19}, %20, p, 1, 1, %22;\n"
#define FDJL_SS_PRED_32 "setp.ne.b32 p, %34, 0;\n"
#define FDJL_SS_TAIL_32 ", %32, %33, p, 1, 1, %35, %36;\n"
#define FDJL_RS_PRED_32 "setp.ne.b32 p, %37, 0;\n"
#define FDJL_RS_TAIL_32 ", {%32, %33, %34, %35}, %36, p, 1, 1, %38;\n"
#define FDJL_SS_PRED_64 "setp.ne.b32 p, %66, 0;\n"
#define FDJL_SS_TAIL_64 ", %64, %65, p, 1, 1, %67, %68;\n"
#define FDJL_RS_PRED_64 "setp.ne.b32 p, %69, 0;\n"
#define FDJL_RS_TAIL_64 ", {%64, %65, %66, %67}, %68, p, 1, 1, %70;\n"
#define FDJL_SS_PRED_48 "setp.ne.b32 p, %50, 0;\n"
#define FDJL_SS_TAIL_48 ", %48, %49, p, 1, 1, %51, %52;\n"
#define FDJL_RS_PRED_48 "setp.ne.b32 p, %53, 0;\n"
#define FDJL_RS_TAIL_48 ", {%48, %49, %50, %51}, %52, p, 1, 1, %54;\n"
#define FDJL_SS_PRED_128 "setp.ne.b32 p, %130, 0;\n"
#define FDJL_SS_TAIL_128 ", %128, %129, p, 1, 1, %131, %132;\n"
#define FDJL_RS_PRED_128 "setp.ne.b32 p, %133, 0;\n"
#define FDJL_RS_TAIL_128 ", {%128, %129, %130, %131}, %132, p, 1, 1, %134;\n"
#define FDJL_SS_PRED_96 "setp.ne.b32 p, %98, 0;\n"
#define FDJL_SS_TAIL_96 ", %96, %97, p, 1, 1, %99, %100;\n"
#define FDJL_RS_PRED_96 "setp.ne.b32 p, %101, 0;\n"
#define FDJL_RS_TAIL_96 ", {%96, %97, %98, %99}, %100, p, 1, 1, %102;\n"

#define FDJL_ACC_REGS_40 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39}"
#define FDJL_ACC_REGS_56 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55}"
#define FDJL_ACC_OPS_40(d) FDJL_ACC_OPS_32_AT(d, 0), FDJL_ACC_OPS_8_AT(d, 32)
#define FDJL_ACC_OPS_56(d) FDJL_ACC_OPS_32_AT(d, 0), FDJL_ACC_OPS_16_AT(d, 32), FDJL_ACC_OPS_8_AT(d, 48)
#define FDJL_SS_PRED_40 "setp.ne.b32 p, %42, 0;\n"
#define FDJL_SS_TAIL_40 ", %40, %41, p, 1, 1, %43, %44;\n"
#define FDJL_RS_PRED_40 "setp.ne.b32 p, %45, 0;\n"
#define FDJL_RS_TAIL_40 ", {%40, %41, %42, %43}, %44, p, 1, 1, %46;\n"
#define FDJL_SS_PRED_56 "setp.ne.b32 p, %58, 0;\n"
#define FDJL_SS_TAIL_56 ", %56, %57, p, 1, 1, %59, %60;\n"
#define FDJL_RS_PRED_56 "setp.ne.b32 p, %61, 0;\n"
#define FDJL_RS_TAIL_56 ", {%56, %57, %58, %59}, %60, p, 1, 1, %62;\n"

// D[64 x N] (+)= A B, fp32 accumulate; T = __half or __nv_bfloat16. scale_d == 0 overwrites D.
//  ss<TA, TB>: A and B from shared-memory descriptors (TA / TB = 1: that operand is MN-major)
//  rs<TB>:     A from registers (4 x 32 bit, the mma.sync A layout), B from a descriptor
template <typename T, int N> struct Wgmma;
#define FDJL_WGMMA_DEF(TYPE, PTXT, N, R)                                                            \
  template <> struct Wgmma<TYPE, N> {                                                               \
    template <int TA, int TB>                                                                       \
    static __device__ __forceinline__ void ss(float* d, uint64_t da, uint64_t db, int scale_d) {     \
      asm volatile("{\n.reg .pred p;\n" FDJL_SS_PRED_##R                                            \
                   "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." PTXT "." PTXT " "              \
                   FDJL_ACC_REGS_##R FDJL_SS_TAIL_##R "}\n"                                          \
                   : FDJL_ACC_OPS_##R(d)                                                            \
                   : "l"(da), "l"(db), "r"(scale_d), "n"(TA), "n"(TB));                             \
    }                                                                                               \
    template <int TB>                                                                               \
    static __device__ __forceinline__ void rs(float* d, const uint32_t* a, uint64_t db, int scale_d) { \
      asm volatile("{\n.reg .pred p;\n" FDJL_RS_PRED_##R                                            \
                   "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." PTXT "." PTXT " "              \
                   FDJL_ACC_REGS_##R FDJL_RS_TAIL_##R "}\n"                                          \
                   : FDJL_ACC_OPS_##R(d)                                                            \
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d), "n"(TB));   \
    }                                                                                               \
  };
#if FDJL_WGMMA
FDJL_WGMMA_DEF(__half, "f16", 16, 8)
FDJL_WGMMA_DEF(__nv_bfloat16, "bf16", 16, 8)
FDJL_WGMMA_DEF(__half, "f16", 32, 16)
FDJL_WGMMA_DEF(__nv_bfloat16, "bf16", 32, 16)
FDJL_WGMMA_DEF(__half, "f16", 64, 32)
FDJL_WGMMA_DEF(__nv_bfloat16, "bf16", 64, 32)
FDJL_WGMMA_DEF(__half, "f16", 128, 64)
FDJL_WGMMA_DEF(__nv_bfloat16, "bf16", 128, 64)
FDJL_WGMMA_DEF(__half, "f16", 96, 48)
FDJL_WGMMA_DEF(__nv_bfloat16, "bf16", 96, 48)
FDJL_WGMMA_DEF(__half, "f16", 192, 96)
FDJL_WGMMA_DEF(__nv_bfloat16, "bf16", 192, 96)
FDJL_WGMMA_DEF(__half, "f16", 256, 128)
FDJL_WGMMA_DEF(__nv_bfloat16, "bf16", 256, 128)
FDJL_WGMMA_DEF(__half, "f16", 80, 40)
FDJL_WGMMA_DEF(__nv_bfloat16, "bf16", 80, 40)
FDJL_WGMMA_DEF(__half, "f16", 112, 56)
FDJL_WGMMA_DEF(__nv_bfloat16, "bf16", 112, 56)
#endif

// D[64 x N] (+)= A B on tf32 operands (float32 bits whose 13 low mantissa bits the tensor cores ignore: the planes of
// Tf32x3, flash_tf32.cuh), fp32 accumulate, k8 steps. Both operands K-major (tf32 has no transposed form): the same
// 128B-swizzled tiles as above with 32 floats per 128-byte block, so a k8 step is +32 bytes as a 16-bit k16 step is.
//  ss: A and B from shared-memory descriptors
//  rs: A from registers (4 x 32 bit, the mma.sync m16n8k8 tf32 A layout for the warp's 16 rows), B from a descriptor
template <int N> struct WgmmaTf32;
#define FDJL_WGMMA_TF32_DEF(N, R)                                                                     \
  template <> struct WgmmaTf32<N> {                                                                   \
    static __device__ __forceinline__ void ss(float* d, uint64_t da, uint64_t db, int scale_d) {       \
      asm volatile("{\n.reg .pred p;\n" FDJL_SS_PRED_##R                                              \
                   "wgmma.mma_async.sync.aligned.m64n" #N "k8.f32.tf32.tf32 " FDJL_ACC_REGS_##R        \
                   FDJL_SS_TF32_TAIL_##R "}\n"                                                        \
                   : FDJL_ACC_OPS_##R(d)                                                              \
                   : "l"(da), "l"(db), "r"(scale_d));                                                 \
    }                                                                                                 \
    static __device__ __forceinline__ void rs(float* d, const uint32_t* a, uint64_t db, int scale_d) { \
      asm volatile("{\n.reg .pred p;\n" FDJL_RS_PRED_##R                                              \
                   "wgmma.mma_async.sync.aligned.m64n" #N "k8.f32.tf32.tf32 " FDJL_ACC_REGS_##R        \
                   FDJL_RS_TF32_TAIL_##R "}\n"                                                        \
                   : FDJL_ACC_OPS_##R(d)                                                              \
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d));             \
    }                                                                                                 \
  };
#define FDJL_SS_TF32_TAIL_16 ", %16, %17, p, 1, 1;\n"
#define FDJL_RS_TF32_TAIL_16 ", {%16, %17, %18, %19}, %20, p, 1, 1;\n"
#define FDJL_SS_TF32_TAIL_32 ", %32, %33, p, 1, 1;\n"
#define FDJL_RS_TF32_TAIL_32 ", {%32, %33, %34, %35}, %36, p, 1, 1;\n"
#define FDJL_SS_TF32_TAIL_48 ", %48, %49, p, 1, 1;\n"
#define FDJL_RS_TF32_TAIL_48 ", {%48, %49, %50, %51}, %52, p, 1, 1;\n"
#define FDJL_SS_TF32_TAIL_64 ", %64, %65, p, 1, 1;\n"
#define FDJL_RS_TF32_TAIL_64 ", {%64, %65, %66, %67}, %68, p, 1, 1;\n"
#if FDJL_WGMMA
FDJL_WGMMA_TF32_DEF(32, 16)
FDJL_WGMMA_TF32_DEF(64, 32)
FDJL_WGMMA_TF32_DEF(96, 48)
FDJL_WGMMA_TF32_DEF(128, 64)
#endif

}  // namespace fdjl
