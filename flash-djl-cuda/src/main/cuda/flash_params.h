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
