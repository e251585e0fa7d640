// flash_kernels.cu - the one translation unit of the flash-djl fatbin: picks the kernel body of
// every extern "C" kernel (by the dispatch rules of flash_tiles.h), instantiates the kernels and
// their _cfg arrays, and exports the launch facts a launcher reads (flash_params.h).
#include "flash_fwd.cuh"
#include "flash_fwd_sm90.cuh"
#include "flash_bwd.cuh"
#include "flash_bwd_sm90.cuh"
#include "flash_bwd_sm90_wide.cuh"
#include "flash_bwd_dq_sm90.cuh"
#include "flash_f32.cuh"
#include "flash_fwd_tf32.cuh"
#include "flash_fwd_tf32_wg.cuh"
#include "flash_bwd_tf32.cuh"
#include "flash_bwd_tf32_wg.cuh"
#include "flash_bwd_dq_tf32_wg.cuh"
#include "flash_bias.cuh"
#include "flash_cast.cuh"
#include "flash_tiles.h"
#include "flash_tma.cuh"

namespace fdjl {

// ---------------------------------------------------------------- dispatch: which body serves D
// T: the compute type (of q, k, v, dout as the kernels read them); TO: the data type (of o and the
// gradients): T itself, or float for the mixed kernels. BIAS: the _bias kernels, those that read a
// score bias (flash_bias.cuh); each is a kernel of its own, so that the kernels without it keep their
// registers and schedule (one kernel choosing its body at run time ran unbiased backwards at d = 128
// at 0.80-0.90x: its registers are those of the larger body; PERF_LOG.md).
// LONG_KEYS: the head dim's form for long key sequences (flash_tiles.h, fwd_long_min_keys)
template <typename T, typename TO, int D, bool BIAS, bool LONG_KEYS = false>
__device__ __forceinline__ void fwd_kernel(const FlashFwdParams& p) {
  if constexpr (!fwd_on_wgmma(D)) fwd_mma_kernel<T, TO, D, BIAS>(p);
  else if constexpr (FwdWgShape<D, LONG_KEYS, BIAS>::PP) fwd_wgmma_pingpong_kernel<T, TO, D, BIAS, LONG_KEYS>(p);
  else fwd_wgmma_lockstep_kernel<T, TO, D, BIAS, LONG_KEYS>(p);
}

template <typename T, typename TO, int D, bool BIAS>
__device__ __forceinline__ void bwd_dkdv_kernel(const FlashBwdParams& p) {
  if constexpr (!dkdv_on_wgmma(D)) bwd_dkdv_mma_kernel<T, TO, D, BIAS>(p);
  else if constexpr (dkdv_splits_head_dim(D)) bwd_dkdv_wgmma_wide_kernel<T, TO, D, BIAS>(p);
  else bwd_dkdv_wgmma_kernel<T, TO, D, BIAS>(p);
}

template <typename T, typename TO, int D, bool BIAS>
__device__ __forceinline__ void bwd_dq_kernel(const FlashBwdParams& p) {
  if constexpr (dq_on_wgmma(D)) bwd_dq_wgmma_kernel<T, TO, D, BIAS>(p);
  else bwd_dq_mma_kernel<T, TO, D, BIAS>(p);
}

// float32: 3xTF32 tensor-core bodies where flash_tiles.h says so, else SIMT
template <int D, bool BIAS>
__device__ __forceinline__ void fwd_f32(const FlashFwdParams& p) {
  if constexpr (f32_fwd_on_wgmma(D, BIAS)) fwd_tf32_wg_kernel<D, BIAS>(p);
  else if constexpr (f32_on_tensor_cores(D)) fwd_tf32_kernel<D, BIAS>(p);
  else fwd_f32_kernel<D, BIAS>(p);
}
template <int D, bool BIAS>
__device__ __forceinline__ void bwd_dkdv_f32(const FlashBwdParams& p) {
  if constexpr (f32_dkdv_on_wgmma(D, BIAS)) bwd_dkdv_tf32_wg_kernel<D, BIAS>(p);
  else if constexpr (f32_on_tensor_cores(D)) bwd_dkdv_tf32_kernel<D, BIAS>(p);
  else bwd_dkdv_f32_kernel<D, BIAS>(p);
}
template <int D, bool BIAS>
__device__ __forceinline__ void bwd_dq_f32(const FlashBwdParams& p) {
  if constexpr (f32_dq_on_wgmma(D)) bwd_dq_tf32_wg_kernel<D, BIAS>(p);
  else if constexpr (f32_on_tensor_cores(D)) bwd_dq_tf32_kernel<D, BIAS>(p);
  else bwd_dq_f32_kernel<D, BIAS>(p);
}

}  // namespace fdjl

using fdjl::FwdShape;
using fdjl::DkdvShape;
using fdjl::DqShape;
using fdjl::PreShape;
using fdjl::ConvShape;
using fdjl::F32Shape;
using fdjl::F32FwdShape;
using fdjl::F32DkdvShape;
using fdjl::F32DqShape;
using fdjl::CastShape;

// ---------------------------------------------------------------- exported launch facts
#define FDJL_HEAD_DIM_ITEM(H) H,
#define FDJL_HEAD_DIM_ONE(H) +1
extern "C" __device__ const int flash_abi_version = FLASH_ABI_VERSION;
extern "C" __device__ const int flash_head_dim_count = 0 FDJL_FOR_EACH_HEAD_DIM(FDJL_HEAD_DIM_ONE);
extern "C" __device__ const int flash_head_dims[] = {FDJL_FOR_EACH_HEAD_DIM(FDJL_HEAD_DIM_ITEM)};
extern "C" __device__ const int flash_dq_accum_pad = fdjl::kDqAccumPad;
#define FDJL_DKDV_ADDS_DQ_ITEM(H) (fdjl::dkdv_adds_dq(H) ? 1 : 0),
extern "C" __device__ const int flash_dkdv_adds_dq[] = {FDJL_FOR_EACH_HEAD_DIM(FDJL_DKDV_ADDS_DQ_ITEM)};
#define FDJL_DKDV_ORDERS_DQ_ITEM(H) (fdjl::dkdv_orders_dq(H) ? 1 : 0),
extern "C" __device__ const int flash_dkdv_orders_dq[] = {FDJL_FOR_EACH_HEAD_DIM(FDJL_DKDV_ORDERS_DQ_ITEM)};
#define FDJL_F32_DKDV_ADDS_DQ_ITEM(H) (fdjl::f32_dkdv_adds_dq(H) ? 1 : 0),
extern "C" __device__ const int flash_f32_dkdv_adds_dq[] = {FDJL_FOR_EACH_HEAD_DIM(FDJL_F32_DKDV_ADDS_DQ_ITEM)};
#define FDJL_FWD_LONG_MIN_KEYS_ITEM(H) fdjl::fwd_long_min_keys(H, false),
extern "C" __device__ const int flash_fwd_long_min_keys[] = {FDJL_FOR_EACH_HEAD_DIM(FDJL_FWD_LONG_MIN_KEYS_ITEM)};
#define FDJL_FWD_LONG_MIN_KEYS_FULL_ITEM(H) fdjl::fwd_long_min_keys(H, true),
extern "C" __device__ const int flash_fwd_long_min_keys_full[] = {
    FDJL_FOR_EACH_HEAD_DIM(FDJL_FWD_LONG_MIN_KEYS_FULL_ITEM)};
#define FDJL_FWD_TMA_LOADS_ITEM(H) (fdjl::fwd_tma_loads(H) ? 1 : 0),
extern "C" __device__ const int flash_fwd_tma_loads[] = {FDJL_FOR_EACH_HEAD_DIM(FDJL_FWD_TMA_LOADS_ITEM)};
#define FDJL_BWD_TMA_LOADS_ITEM(H) (fdjl::bwd_tma_loads(H) ? 1 : 0),
extern "C" __device__ const int flash_bwd_tma_loads[] = {FDJL_FOR_EACH_HEAD_DIM(FDJL_BWD_TMA_LOADS_ITEM)};

// ---------------------------------------------------------------- kernels
// name, param type, threads, tile rows, dynamic smem, body (the plain form: the f32 kernels and the backward's pre
// and convert passes). The _BWD form, the 16-bit dK/dV and dq kernels', also asks ptxas for MINB CTAs per SM (their
// shapes' MINB; 0 asks for nothing), and takes its parameter as __grid_constant__, whose tensor maps' addresses go to
// the TMA unit (TMA LOADS). The _FWD form, the 16-bit forwards', does the same (MINB: the forward's min_blocks
// setting) and exports PERSIST, the kernel's persistent CTAs per SM (0: one CTA per grid cell; flash_params.h,
// PERSISTENT KERNELS)
#define FLASH_KERNEL_FWD(NAME, THREADS, MINB, ROWS, SMEM, PERSIST, BODY)                  \
  extern "C" __device__ const int NAME##_cfg[4] = {(THREADS), (ROWS), (SMEM), (PERSIST)}; \
  extern "C" __global__ void __launch_bounds__(THREADS, MINB) NAME(const __grid_constant__ FlashFwdParams p) { BODY(p); }
#define FLASH_KERNEL_BWD(NAME, THREADS, MINB, ROWS, SMEM, BODY)                   \
  extern "C" __device__ const int NAME##_cfg[4] = {(THREADS), (ROWS), (SMEM), 0}; \
  extern "C" __global__ void __launch_bounds__(THREADS, MINB) NAME(const __grid_constant__ FlashBwdParams p) { BODY(p); }
#define FLASH_KERNEL(NAME, PT, THREADS, ROWS, SMEM, BODY)                                 \
  extern "C" __device__ const int NAME##_cfg[4] = {(THREADS), (ROWS), (SMEM), 0};         \
  extern "C" __global__ void __launch_bounds__(THREADS) NAME(const PT p) { BODY(p); }
// the plain form with MINB CTAs per SM asked of ptxas (0 asks for nothing)
#define FLASH_KERNEL_MINB(NAME, PT, THREADS, MINB, ROWS, SMEM, BODY)                     \
  extern "C" __device__ const int NAME##_cfg[4] = {(THREADS), (ROWS), (SMEM), 0};         \
  extern "C" __global__ void __launch_bounds__(THREADS, MINB) NAME(const PT p) { BODY(p); }

// tensor-core kernels of compute type T on data of type TO (TO = T, or float: mixed); B: "" or
// "bias_", BIAS: false or true (the kernels that read a score bias)
#define FLASH_TC_READERS(DT, T, TO, H, B, BIAS)                                                         \
  FLASH_KERNEL_FWD(flash_fwd_##B##DT##_hd##H, (FwdShape<H, BIAS>::THREADS), (FwdShape<H, BIAS>::MINB),     \
                   (FwdShape<H, BIAS>::BR), (FwdShape<H, BIAS>::SMEM), (FwdShape<H, BIAS>::PERSISTENT),     \
                   (fdjl::fwd_kernel<T, TO, H, BIAS>))                                                      \
  FLASH_KERNEL_BWD(flash_bwd_dkdv_##B##DT##_hd##H, DkdvShape<H>::THREADS, DkdvShape<H>::MINB,         \
                   DkdvShape<H>::BCK, DkdvShape<H>::SMEM, (fdjl::bwd_dkdv_kernel<T, TO, H, BIAS>))              \
  FLASH_KERNEL_BWD(flash_bwd_dq_##B##DT##_hd##H, DqShape<H>::THREADS, DqShape<H>::MINB, DqShape<H>::BR, \
                   DqShape<H>::SMEM, (fdjl::bwd_dq_kernel<T, TO, H, BIAS>))
#define FLASH_TC_SET(DT, T, TO, H)                                                                      \
  FLASH_TC_READERS(DT, T, TO, H, , false) FLASH_TC_READERS(DT, T, TO, H, bias_, true)                   \
  FLASH_KERNEL(flash_bwd_pre_##DT##_hd##H, FlashBwdParams, PreShape::THREADS, PreShape::ROWS, 0,        \
               (fdjl::bwd_pre_kernel<T, TO, H>))                                                        \
  FLASH_KERNEL(flash_bwd_convert_##DT##_hd##H, FlashBwdParams, ConvShape::THREADS, ConvShape::ROWS, 0,  \
               (fdjl::bwd_convert_kernel<TO, H>))

// f32: the convert kernel runs after the 3xTF32 dkdv kernels that add dQ (f32_dkdv_adds_dq), in the atomic mode
#define FLASH_F32_READERS(H, B, BIAS)                                                                   \
  FLASH_KERNEL(flash_fwd_##B##f32_hd##H, FlashFwdParams, (F32FwdShape<H, BIAS>::THREADS),                \
               (F32FwdShape<H, BIAS>::ROWS), (F32FwdShape<H, BIAS>::SMEM), (fdjl::fwd_f32<H, BIAS>))    \
  FLASH_KERNEL_MINB(flash_bwd_dkdv_##B##f32_hd##H, FlashBwdParams, (F32DkdvShape<H, BIAS>::THREADS),    \
                    (F32DkdvShape<H, BIAS>::MINB), (F32DkdvShape<H, BIAS>::ROWS),                       \
                    (F32DkdvShape<H, BIAS>::SMEM),                                                      \
                    (fdjl::bwd_dkdv_f32<H, BIAS>))                                                       \
  FLASH_KERNEL(flash_bwd_dq_##B##f32_hd##H, FlashBwdParams, F32DqShape<H>::THREADS, F32DqShape<H>::ROWS, \
               F32DqShape<H>::SMEM, (fdjl::bwd_dq_f32<H, BIAS>))
#define FLASH_F32_SET(H)                                                                                \
  FLASH_F32_READERS(H, , false) FLASH_F32_READERS(H, bias_, true)                                       \
  FLASH_KERNEL(flash_bwd_pre_f32_hd##H, FlashBwdParams, F32Shape::THREADS, F32Shape::ROWS, 0,           \
               (fdjl::bwd_pre_f32_kernel<H>))                                                           \
  FLASH_KERNEL(flash_bwd_convert_f32_hd##H, FlashBwdParams, ConvShape::THREADS, ConvShape::ROWS, 0,     \
               (fdjl::bwd_convert_kernel<float, H>))

// one head dim (the indirection expands FLASH_ONLY_HD before it is pasted into names)
#if defined(FLASH_ONLY_F32)  // developer shortcut: the float32 kernels only
#define FLASH_HD_SET_(H) FLASH_F32_SET(H)
#elif !defined(FLASH_ONLY_BF16)
#define FLASH_HD_SET_(H)                                                                                \
  FLASH_TC_SET(bf16, __nv_bfloat16, __nv_bfloat16, H) FLASH_TC_SET(f16, __half, __half, H)              \
  FLASH_TC_SET(f32bf16, __nv_bfloat16, float, H) FLASH_F32_SET(H)
#else  // developer shortcut with FLASH_ONLY_HD: the bf16 kernels only
#define FLASH_HD_SET_(H) FLASH_TC_SET(bf16, __nv_bfloat16, __nv_bfloat16, H)
#endif
#define FLASH_HD_SET(H) FLASH_HD_SET_(H)
FDJL_FOR_EACH_HEAD_DIM(FLASH_HD_SET)

// ---------------------------------------------------------------- the forward for long key sequences
// flash_fwd_long_*: the forms fwd_long_min_keys (flash_tiles.h) exports, sm_90a only (the other passes export 0
// keys, and their launchers never ask for these names); head dim kFwdLongHeadDim, spelled out for the names. No
// score bias: with one, the launchers run the general form (fwd_long_min_keys)
#if FDJL_WGMMA && !defined(FLASH_ONLY_F32) && (!defined(FLASH_ONLY_HD) || FLASH_ONLY_HD == 64)
static_assert(fdjl::kFwdLongHeadDim == 64, "the flash_fwd_long_* names below say hd64");
#define FLASH_FWD_LONG(DT, T, TO, B, BIAS)                                                                  \
  FLASH_KERNEL_FWD(flash_fwd_long_##B##DT##_hd64, (fdjl::FwdWgShape<64, true>::THREADS),                    \
                   (fdjl::FwdWgShape<64, true>::MINB), (fdjl::FwdWgShape<64, true>::BR),                    \
                   (fdjl::FwdWgShape<64, true>::SMEM), (fdjl::FwdWgShape<64, true>::PERSISTENT),            \
                   (fdjl::fwd_kernel<T, TO, 64, BIAS, true>))
#define FLASH_FWD_LONG_SET(DT, T, TO) FLASH_FWD_LONG(DT, T, TO, , false)
FLASH_FWD_LONG_SET(bf16, __nv_bfloat16, __nv_bfloat16)
#ifndef FLASH_ONLY_BF16
FLASH_FWD_LONG_SET(f16, __half, __half)
FLASH_FWD_LONG_SET(f32bf16, __nv_bfloat16, float)
#endif
#endif

// ---------------------------------------------------------------- casts for the mixed kernels
FLASH_KERNEL(flash_cast_f32_bf16, FlashCastParams, CastShape::THREADS, CastShape::ROWS, 0,
             (fdjl::cast_kernel<__nv_bfloat16>))

// ---------------------------------------------------------------- TMA: the launcher's tensor maps
// (__grid_constant__: the kernel hands the address of its parameter's map to the TMA unit)
extern "C" __device__ const int flash_tma_copy_cfg[4] = {128, fdjl::kTmaTile, 0, 0};
extern "C" __global__ void __launch_bounds__(128) flash_tma_copy(const __grid_constant__ FlashTmaCopyParams p) {
  fdjl::tma_copy_kernel(p);
}

// ---------------------------------------------------------------- the summary of a score bias
FLASH_KERNEL(flash_bias_tiles, FlashBiasTilesParams, 256, fdjl::kBiasCell, 0, fdjl::bias_tiles_kernel)
