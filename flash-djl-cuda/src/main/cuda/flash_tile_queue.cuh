// flash_tile_queue.cuh - the dynamic schedule of the persistent kernels (flash_params.h, PERSISTENT KERNELS) on
// sm_90a: CTA b computes tile b first, then whichever tile a counter shared by the launch's CTAs hands it next, so
// that tiles of unequal cost (causal masks, windows, sequences of different lengths) even out over the SMs. The
// producer warpgroup's thread 0 takes the indices and publishes each through one of two shared-memory slots; every
// warp that reads a slot (the producer's and the computing ones) releases it, and the slot is written again only
// after all of them did.
#pragma once
#include "flash_tiles.h"
#include "flash_wgmma.cuh"

namespace fdjl {

// [0]: the tiles handed out after each CTA's first; [1]: the CTAs that finished. Zero when the module loads; the
// last CTA of a launch to finish sets both back to zero. So the persistent launches on one device must not overlap
// (the launchers issue them on the null stream, in order).
__device__ unsigned int g_tile_counter[2];

struct TileQueue {
  uint32_t base;  // shared-memory address, 8-byte aligned, of kTileQueueBytes (flash_tiles.h)

  // thread 0, before the CTA's __syncthreads: `readers` warps read every slot
  __device__ __forceinline__ void init(int readers) const {
    for (int s = 0; s < 2; ++s) {
      mbar_init(full(s), 1);
      mbar_init(empty(s), readers);
    }
  }
  // the producer's thread 0: the k-th tile of this CTA (>= the grid's tile count: there is no more)
  __device__ __forceinline__ void publish(int k, int tile) const {
    const int s = k & 1;
    if (k >= 2) mbar_wait(empty(s), ((k >> 1) - 1) & 1);
    asm volatile("st.shared.s32 [%0], %1;\n" ::"r"(slot(s)), "r"(tile) : "memory");
    mbar_arrive(full(s));  // a release: the readers' wait sees the slot
  }
  // every lane of every reading warp, in the same order of k
  __device__ __forceinline__ int take(int k) const {
    const int s = k & 1;
    mbar_wait(full(s), (k >> 1) & 1);
    int tile;
    asm volatile("ld.shared.s32 %0, [%1];\n" : "=r"(tile) : "r"(slot(s)) : "memory");
    __syncwarp();
    if ((threadIdx.x & 31) == 0) mbar_arrive(empty(s));
    return tile;
  }
  // the producer's thread 0: the next tile for this CTA
  __device__ __forceinline__ static int grab() { return (int)(gridDim.x + atomicAdd(&g_tile_counter[0], 1u)); }
  // the producer's thread 0, once it took a tile past the last: the launch's last CTA to get here resets the counter
  __device__ __forceinline__ static void finish() {
    __threadfence();
    if (atomicAdd(&g_tile_counter[1], 1u) == gridDim.x - 1) {
      atomicExch(&g_tile_counter[0], 0u);
      atomicExch(&g_tile_counter[1], 0u);
    }
  }

 private:
  __device__ __forceinline__ uint32_t full(int s) const { return base + 8 * s; }
  __device__ __forceinline__ uint32_t empty(int s) const { return base + 16 + 8 * s; }
  __device__ __forceinline__ uint32_t slot(int s) const { return base + 32 + 4 * s; }
};
static_assert(kTileQueueBytes == 4 * 8 + 2 * 4, "TileQueue: two full and two empty mbarriers, two ints");

}  // namespace fdjl
