// flash_params.h - the ABI between the CUDA kernels and the Java launcher (io.flashdjl.cuda).
//
// The launcher packs these structs byte for byte (little endian, natural C alignment) and
// passes each one BY VALUE as the single kernel parameter. Field order is part of the ABI:
// all 8-byte fields first, then 4-byte fields, so there is no interior padding. Change a
// field here and change io.flashdjl.cuda.KernelParams in the same commit.
//
// Layout-agnostic: BHSD and BSHD (and any other strides with a contiguous last dimension)
// are described by the three strides of each tensor, counted in ELEMENTS, not bytes.
// Head h of q reads kv head h / (heads_q / heads_kv) (grouped-query attention).
#pragma once
#include <stdint.h>

// mask values
#define FLASH_MASK_NONE 0
#define FLASH_MASK_CAUSAL_TOP_LEFT 1      // query i sees keys j <= i (SDPA's is_causal)
#define FLASH_MASK_CAUSAL_BOTTOM_RIGHT 2  // query i sees keys j <= i + seqlen_k - seqlen_q

// ============================================================================================
// KERNELS AND LAUNCH CONVENTION (flash_kernels.cu, built by build-fatbin.sh into one fatbin)
//
// 75 extern "C" __global__ kernels, each taking ONE parameter, its param struct BY VALUE:
//   flash_fwd_<dt>_hd<H>          (FlashFwdParams)
//   flash_bwd_pre_<dt>_hd<H>      (FlashBwdParams)  delta = rowsum(dO*O); zeroes dq_accum if deterministic == 0
//   flash_bwd_dkdv_<dt>_hd<H>     (FlashBwdParams)  dk, dv (+ atomic dq_accum if deterministic == 0)
//   flash_bwd_dq_<dt>_hd<H>       (FlashBwdParams)  deterministic == 1 only: writes dq directly
//   flash_bwd_convert_<dt>_hd<H>  (FlashBwdParams)  deterministic == 0 only: dq = dq_accum * scale
//   dt in {f16, bf16, f32}, H in {32, 64, 96, 128, 256}. In the sm_90a code, fwd and dkdv of
//   f16/bf16 at H = 64 and 128 are warpgroup-MMA (wgmma) kernels (flash_*_sm90.cuh), with their
//   own launch shapes in their _cfg; the contract is the same.
// For every kernel K: extern "C" __device__ const int K_cfg[4] =
//   {threads_per_block, tile_rows, dynamic_smem_bytes, 0}; read it with cuModuleGetGlobal.
// Launch: if dynamic_smem_bytes > 48 KiB, set CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
//   to it first (largest cfg value: 98304 B in the sm_80/86/89 code, within the 99 KiB of
//   sm_86/sm_89; 164864 B in the sm_90a code, whose _cfg values come from its own pass);
//   grid  = (ceil(N / tile_rows), heads, batch), block = (threads_per_block, 1, 1),
//   sharedMemBytes = dynamic_smem_bytes, null stream, in this order:
//     forward:  fwd                        N = seqlen_q, heads = heads_q
//     backward: pre                        N = seqlen_q, heads = heads_q
//               dkdv                       N = seqlen_k, heads = heads_kv
//               dq       (deterministic == 1 only)  N = seqlen_q, heads = heads_q
//               convert  (deterministic == 0 only)  N = seqlen_q, heads = heads_q
// Kernel choice: H = the smallest of {32, 64, 96, 128, 256} with head_dim <= H (D = 80 -> hd96).
//
// PRECONDITIONS the launcher must check (else fall back to another backend):
//  all dtypes:
//   - 1 <= head_dim <= 256; seqlen_q >= 1, seqlen_k >= 1; batch >= 1; heads_kv >= 1 and
//     heads_q % heads_kv == 0; ceil(seqlen/tile_rows) < 2^31, heads <= 65535, batch <= 65535.
//   - the last dimension of every tensor is contiguous (element stride 1); strides are in elements.
//   - lse and delta: contiguous float32 [B, Hq, Nq]; dq_accum: contiguous float32 [B, Hq, Nq, H]
//     (H = the KERNEL head dim, not head_dim), base 16-byte aligned, needed only when
//     deterministic == 0 (it may be null when deterministic == 1).
//   - dq, dk, dv must not alias the inputs; o is read by the backward (the forward's output).
//   - mask is FLASH_MASK_NONE / _CAUSAL_TOP_LEFT / _CAUSAL_BOTTOM_RIGHT; scale_log2 == scale * log2(e).
//  f16 / bf16 in addition:
//   - head_dim % 8 == 0;
//   - every base pointer (q, k, v, o, dout, dq, dk, dv) 16-byte aligned and every batch, head
//     and row stride a multiple of 8 elements (so every 8-element row chunk is 16-byte aligned).
//  f32 in addition: base pointers 4-byte aligned (natural); any head_dim <= 256, any strides.
//
// Semantics: a query row that sees no key (bottom-right causal with seqlen_q > seqlen_k) gets
// O = 0 and LSE = -inf, and contributes zero gradients. Elements beyond head_dim are never read
// or written. dq_accum holds the UNSCALED sum of dS K; convert multiplies by scale.
// f32 set: dq_accum is never used; flash_bwd_convert_f32_* computes dq itself (same code as
// flash_bwd_dq_f32_*), so f32 dq is deterministic in both modes and needs no dq_accum.
// In deterministic mode nothing uses atomics: dk/dv/dq are bitwise reproducible.
// ============================================================================================

struct FlashFwdParams {
  const void* q;        // [B, Hq, Nq, D] by strides, dtype T
  const void* k;        // [B, Hkv, Nk, D]
  const void* v;        // [B, Hkv, Nk, D]
  void* o;              // [B, Hq, Nq, D], dtype T
  float* lse;           // [B, Hq, Nq] contiguous float32, natural log of the scaled scores
  int64_t q_batch_stride, q_head_stride, q_row_stride;
  int64_t k_batch_stride, k_head_stride, k_row_stride;
  int64_t v_batch_stride, v_head_stride, v_row_stride;
  int64_t o_batch_stride, o_head_stride, o_row_stride;
  int32_t batch, heads_q, heads_kv, seqlen_q, seqlen_k;
  int32_t head_dim;     // actual D (<= the kernel's compile-time head dim; multiple of 8 for fp16/bf16)
  float scale;          // softmax scale
  float scale_log2;     // scale * log2(e)
  int32_t mask;         // FLASH_MASK_*
  int32_t pad0;
};

struct FlashBwdParams {
  const void* q; const void* k; const void* v; const void* o; const void* dout;
  const float* lse;     // [B, Hq, Nq] from the forward
  void* dq; void* dk; void* dv;   // dtype T, strides below
  float* dq_accum;      // [B, Hq, Nq, Dpad] contiguous float32 scratch (Dpad = kernel head dim)
  float* delta;         // [B, Hq, Nq] contiguous float32 scratch: rowsum(dO * O)
  int64_t q_batch_stride, q_head_stride, q_row_stride;
  int64_t k_batch_stride, k_head_stride, k_row_stride;
  int64_t v_batch_stride, v_head_stride, v_row_stride;
  int64_t o_batch_stride, o_head_stride, o_row_stride;
  int64_t do_batch_stride, do_head_stride, do_row_stride;
  int64_t dq_batch_stride, dq_head_stride, dq_row_stride;
  int64_t dk_batch_stride, dk_head_stride, dk_row_stride;
  int64_t dv_batch_stride, dv_head_stride, dv_row_stride;
  int32_t batch, heads_q, heads_kv, seqlen_q, seqlen_k;
  int32_t head_dim;
  float scale;
  float scale_log2;
  int32_t mask;
  int32_t deterministic; // 1: dq from the separate dq kernel, no atomics anywhere (same bits every run)
};
