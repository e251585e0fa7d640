// flash_tma.cuh - the Tensor Memory Accelerator of sm_90a as the kernels reach it: a tensor map the
// launcher encoded (cuTensorMapEncodeTiled through JNA, io.flashdjl.cuda.TensorMaps) arrives inside a
// __grid_constant__ parameter struct (TMA in flash_params.h), and a 2-D tile load into shared memory
// completes on an mbarrier with the byte count it was told to expect. Bulk reductions (shared -> global,
// float32 add) need no map: the wgmma dK/dV kernel adds its dQ tiles to dq_accum with them.
//   tma_copy_kernel: copies a 16-bit matrix tile by tile through such a map; the launcher's own test of
//                    the route (encode, pass, load), before the attention kernels rely on it.
#pragma once
#include "flash_common.cuh"
#include "flash_wgmma.cuh"

namespace fdjl {

constexpr int kTmaTile = 64;  // rows and columns of flash_tma_copy's box

#if FDJL_WGMMA
// one arrival on `bar` that also expects `bytes` of asynchronous copies to complete on it
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}

// Bulk reductions (no tensor map): `bytes` (a multiple of 16) of float32 in shared memory at `src` added to global
// memory at `dst` (both 16-byte aligned) by the TMA unit. Each issuing thread tracks its own groups: it commits,
// and waits until the sources were read (before it lets the shared memory be rewritten) or until all completed.
__device__ __forceinline__ void bulk_reduce_add_f32(float* dst, uint32_t src, uint32_t bytes) {
  asm volatile("cp.reduce.async.bulk.global.shared::cta.bulk_group.add.f32 [%0], [%1], %2;\n" ::"l"(dst), "r"(src),
               "r"(bytes) : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void bulk_wait_read() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }
__device__ __forceinline__ void bulk_wait_all() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }
// Between the async proxy (bulk reductions) and the generic one (the flags below), for global memory
__device__ __forceinline__ void fence_proxy_async_global() { asm volatile("fence.proxy.async.global;\n" ::: "memory"); }
// A flag in global memory that other CTAs wait on: read with acquire, written with release, at GPU scope
__device__ __forceinline__ uint32_t ld_acquire_gpu(const uint32_t* flag) {
  uint32_t v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(flag) : "memory");
  return v;
}
__device__ __forceinline__ void st_release_gpu(uint32_t* flag, uint32_t v) {
  asm volatile("st.release.gpu.global.u32 [%0], %1;\n" ::"l"(flag), "r"(v) : "memory");
}

// the box of `map` at element (column x, row y) into shared memory at `dst`, completing on `bar`;
// `map` must be the address of a __grid_constant__ parameter (or of global memory)
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const FlashTensorMap* map, int x, int y, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n"
      ::"r"(dst), "l"(map), "r"(x), "r"(y), "r"(bar) : "memory");
}

// The box of a 4-D `map` at (column x, row y, head z, batch w), as tma_load_2d (TMA LOADS in flash_params.h)
__device__ __forceinline__ void tma_load_4d(uint32_t dst, const FlashTensorMap* map, int x, int y, int z, int w,
                                            uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], "
      "[%6];\n" ::"r"(dst), "l"(map), "r"(x), "r"(y), "r"(z), "r"(w), "r"(bar) : "memory");
}

// The box of a 5-D `map` at (x, y, z, w, v), as tma_load_2d
__device__ __forceinline__ void tma_load_5d(uint32_t dst, const FlashTensorMap* map, int x, int y, int z, int w,
                                            int v, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.5d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5, "
      "%6}], [%7];\n" ::"r"(dst), "l"(map), "r"(x), "r"(y), "r"(z), "r"(w), "r"(v), "r"(bar) : "memory");
}

// Whether the launcher's maps of a problem are 5-D (TMA LOADS in flash_params.h): where head_dim is a whole number
// of 64-column blocks, a map has a dimension of column blocks, and one box of a tile's 64 rows takes all of them
// (measured 1.01-1.08x over one box per block in the d = 128 dK/dV kernel, PERF_LOG.md); else a box per block.
// io.flashdjl.cuda.TensorMaps.wholeBlockMap and the harness's flash_ctypes hold the same rule.
__device__ __forceinline__ bool tma_whole_block_map(int head_dim) { return head_dim % kTmaTile == 0; }

// A tile of ROWS rows (from row `row0`) and DS columns of (head, batch) of `map` into shared memory at `dst`, in the
// wgmma operands' layout (flash_wgmma.cuh: 64-column blocks of ROWS x 128 bytes, 128-byte swizzle). A 4-D map takes
// a box of kTmaTile x kTmaTile per block and 64 rows: the 128-byte swizzle repeats every 8 rows, so boxes stacked
// 64 rows apart in a block leave it as one box of ROWS rows would. A 5-D map (`whole_block_map`) takes one box of
// 64 rows and every block, which lands as [block][64 rows][64 columns]: the layout of a tile of 64 rows, or of a
// tile of one block (DS = 64) box by box. Other tiles take 4-D maps (their kernels assert that their head dims never
// have 5-D ones; a 4-D load from a 5-D map is an illegal instruction).
// Completes on `bar`, which must expect tile_bytes<ROWS, DS>() for it.
template <int ROWS, int DS> __device__ __forceinline__ constexpr uint32_t tma_tile_bytes() { return ROWS * DS * 2; }
template <int ROWS, int DS>
__device__ __forceinline__ void tma_load_tile(uint32_t dst, const FlashTensorMap* map, int row0, int head, int batch,
                                              uint32_t bar, bool whole_block_map) {
  static_assert(ROWS % kTmaTile == 0 && DS % kTmaTile == 0, "whole boxes");
  if constexpr (ROWS == kTmaTile || DS == kTmaTile) {
    if (whole_block_map) {
#pragma unroll
      for (int rb = 0; rb < ROWS / kTmaTile; ++rb)
        tma_load_5d(dst + rb * kTmaTile * 128, map, 0, row0 + rb * kTmaTile, 0, head, batch, bar);
      return;
    }
  }
#pragma unroll
  for (int cb = 0; cb < DS / kTmaTile; ++cb)
#pragma unroll
    for (int rb = 0; rb < ROWS / kTmaTile; ++rb)
      tma_load_4d(dst + cb * ROWS * 128 + rb * kTmaTile * 128, map, cb * kTmaTile, row0 + rb * kTmaTile, head, batch,
                  bar);
}
#endif

__device__ __forceinline__ void tma_copy_kernel(const FlashTmaCopyParams& p) {
#if FDJL_WGMMA
  __shared__ alignas(1024) uint16_t tile[kTmaTile * kTmaTile];  // 1024: the 128-byte swizzle's period
  __shared__ alignas(8) uint64_t bar;
  const uint32_t s_tile = smem_u32(tile), s_bar = smem_u32(&bar);
  const int x0 = blockIdx.x * kTmaTile, y0 = blockIdx.y * kTmaTile;
  if (threadIdx.x == 0) {
    mbar_init(s_bar, 1);
    fence_proxy_async();  // the initialised barrier, visible to the TMA unit
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    mbar_arrive_expect_tx(s_bar, kTmaTile * kTmaTile * 2);  // a full box: out-of-range elements arrive as 0
    tma_load_2d(s_tile, &p.src, x0, y0, s_bar);
  }
  mbar_wait(s_bar, 0);
  uint16_t* dst = static_cast<uint16_t*>(p.dst);
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(tile);
  for (int i = threadIdx.x; i < kTmaTile * kTmaTile; i += blockDim.x) {
    const int tr = i / kTmaTile, tc = i % kTmaTile;  // the element's row and column in the box
    const int r = y0 + tr, c = x0 + tc;
    // swizzled: where the wgmma kernels' copier puts element (tr, tc) of a 64-column block (16-byte chunk tc / 8)
    const uint16_t v = p.swizzled ? *reinterpret_cast<const uint16_t*>(bytes + sw128<kTmaTile>(tr, tc >> 3) + (tc & 7) * 2)
                                  : tile[i];
    if (r < p.rows && c < p.cols) dst[(int64_t)r * p.dst_row_stride + c] = v;
  }
#endif
}

}  // namespace fdjl
