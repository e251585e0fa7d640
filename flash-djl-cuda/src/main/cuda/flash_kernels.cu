// flash_kernels.cu - the one translation unit of the flash-djl fatbin: instantiates all 75
// extern "C" kernels and their _cfg arrays (see the launch convention in flash_params.h).
#include "flash_fwd.cuh"
#include "flash_bwd.cuh"
#include "flash_f32.cuh"

using fdjl::FwdShape;
using fdjl::DkdvShape;
using fdjl::DqShape;
using fdjl::PreShape;
using fdjl::ConvShape;
using fdjl::F32Shape;

// name, param type, threads, tile rows, dynamic smem, body
#define FLASH_KERNEL_MB(NAME, PT, THREADS, MINB, ROWS, SMEM, BODY)                       \
  extern "C" __device__ const int NAME##_cfg[4] = {(THREADS), (ROWS), (SMEM), 0};         \
  extern "C" __global__ void __launch_bounds__(THREADS, MINB) NAME(const PT p) { BODY(p); }
#define FLASH_KERNEL(NAME, PT, THREADS, ROWS, SMEM, BODY)                                 \
  extern "C" __device__ const int NAME##_cfg[4] = {(THREADS), (ROWS), (SMEM), 0};         \
  extern "C" __global__ void __launch_bounds__(THREADS) NAME(const PT p) { BODY(p); }

#define FLASH_TC_SET(DT, T, H)                                                                          \
  FLASH_KERNEL_MB(flash_fwd_##DT##_hd##H, FlashFwdParams, FwdShape<H>::THREADS, FwdShape<H>::MINB,     \
               FwdShape<H>::BR,                                                                         \
               FwdShape<H>::SMEM, (fdjl::fwd_kernel<T, H>))                                             \
  FLASH_KERNEL(flash_bwd_pre_##DT##_hd##H, FlashBwdParams, PreShape::THREADS, PreShape::ROWS, 0,        \
               (fdjl::bwd_pre_kernel<T, H>))                                                            \
  FLASH_KERNEL(flash_bwd_dkdv_##DT##_hd##H, FlashBwdParams, DkdvShape<H>::THREADS, DkdvShape<H>::BCK,   \
               DkdvShape<H>::SMEM, (fdjl::bwd_dkdv_kernel<T, H>))                                       \
  FLASH_KERNEL(flash_bwd_dq_##DT##_hd##H, FlashBwdParams, DqShape<H>::THREADS, DqShape<H>::BR,          \
               DqShape<H>::SMEM, (fdjl::bwd_dq_kernel<T, H>))                                           \
  FLASH_KERNEL(flash_bwd_convert_##DT##_hd##H, FlashBwdParams, ConvShape::THREADS, ConvShape::ROWS, 0,  \
               (fdjl::bwd_convert_kernel<T, H>))

#define FLASH_F32_SET(H)                                                                                \
  FLASH_KERNEL(flash_fwd_f32_hd##H, FlashFwdParams, F32Shape::THREADS, F32Shape::ROWS, 0,               \
               (fdjl::fwd_f32_kernel<H>))                                                               \
  FLASH_KERNEL(flash_bwd_pre_f32_hd##H, FlashBwdParams, F32Shape::THREADS, F32Shape::ROWS, 0,           \
               (fdjl::bwd_pre_f32_kernel<H>))                                                           \
  FLASH_KERNEL(flash_bwd_dkdv_f32_hd##H, FlashBwdParams, F32Shape::THREADS, F32Shape::ROWS, 0,          \
               (fdjl::bwd_dkdv_f32_kernel<H>))                                                          \
  FLASH_KERNEL(flash_bwd_dq_f32_hd##H, FlashBwdParams, F32Shape::THREADS, F32Shape::ROWS, 0,            \
               (fdjl::bwd_dq_f32_kernel<H>))                                                            \
  FLASH_KERNEL(flash_bwd_convert_f32_hd##H, FlashBwdParams, F32Shape::THREADS, F32Shape::ROWS, 0,       \
               (fdjl::bwd_dq_f32_kernel<H>))

#ifndef FLASH_ONLY_HD
#define FLASH_ALL_HD(X, ...) X(__VA_ARGS__, 32) X(__VA_ARGS__, 64) X(__VA_ARGS__, 96) X(__VA_ARGS__, 128) X(__VA_ARGS__, 256)
FLASH_ALL_HD(FLASH_TC_SET, f16, __half)
FLASH_ALL_HD(FLASH_TC_SET, bf16, __nv_bfloat16)
FLASH_F32_SET(32)
FLASH_F32_SET(64)
FLASH_F32_SET(96)
FLASH_F32_SET(128)
FLASH_F32_SET(256)
#else
// developer shortcut: nvcc -DFLASH_ONLY_HD=128 builds only one head dim (quick ptxas checks)
#define FLASH_TC_SET_X(DT, T, H) FLASH_TC_SET(DT, T, H)
#define FLASH_F32_SET_X(H) FLASH_F32_SET(H)
FLASH_TC_SET_X(bf16, __nv_bfloat16, FLASH_ONLY_HD)
#ifndef FLASH_ONLY_BF16
FLASH_TC_SET_X(f16, __half, FLASH_ONLY_HD)
FLASH_F32_SET_X(FLASH_ONLY_HD)
#endif
#endif
