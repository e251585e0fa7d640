// flash_f32.cuh - float32 attention: simple SIMT kernels (fp32 FMA), one warp per row.
//
// Lane l of a warp holds elements d = l + 32*e (e < D/32) of a row, so any head_dim <= D works
// and every load is a coalesced 4-byte load. Dot products are warp reductions. Exact exp2f,
// fp32 accumulation everywhere. Correct on every shape; speed is secondary.
//   fwd:     warp per query row, online softmax over the visible keys.
//   pre:     delta = rowsum(dO * O). (dq_accum is not used by the f32 set.)
//   dkdv:    warp per key row; loops over the q heads of the group and the visible queries.
//   dq:      warp per query row; recomputes P and dS, dq = scale * sum_j dS_ij k_j. No atomics.
//   convert: the f32 set has no dq_accum: convert is the same computation as dq, so dq is
//            always computed deterministically whichever of the two the launcher runs.
#pragma once
#include "flash_common.cuh"

namespace fdjl {

struct F32Shape { static constexpr int THREADS = 256, ROWS = 8, SMEM = 0; };

template <int D> struct F32Row {
  static constexpr int E = D / 32;
  float x[E];
  __device__ __forceinline__ void load(const float* row, int lane, int hd) {
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const int d = lane + 32 * e;
      x[e] = d < hd ? row[d] : 0.f;
    }
  }
  __device__ __forceinline__ void store(float* row, int lane, int hd, float s) const {
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const int d = lane + 32 * e;
      if (d < hd) row[d] = x[e] * s;
    }
  }
  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int e = 0; e < E; ++e) x[e] = 0.f;
  }
};

template <int D>
__device__ __forceinline__ float f32_dot(const F32Row<D>& a, const float* row, int lane, int hd) {
  float s = 0.f;
#pragma unroll
  for (int e = 0; e < D / 32; ++e) {
    const int d = lane + 32 * e;
    if (d < hd) s = fmaf(a.x[e], row[d], s);
  }
  return warp_sum(s);
}

template <int D>
__device__ __forceinline__ void f32_axpy(F32Row<D>& acc, float a, const float* row, int lane, int hd) {
#pragma unroll
  for (int e = 0; e < D / 32; ++e) {
    const int d = lane + 32 * e;
    if (d < hd) acc.x[e] = fmaf(a, row[d], acc.x[e]);
  }
}

template <int D>
__device__ __forceinline__ void fwd_f32_kernel(const FlashFwdParams& p) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.y, b = blockIdx.z, hk = h / (p.heads_q / p.heads_kv);
  const int Nq = p.seqlen_q, Nk = p.seqlen_k, hd = p.head_dim;
  const int row = blockIdx.x * F32Shape::ROWS + warp;
  if (row >= Nq) return;
  const bool causal = p.mask != FLASH_MASK_NONE;
  const int offset = (p.mask == FLASH_MASK_CAUSAL_BOTTOM_RIGHT) ? Nk - Nq : 0;
  const float* qg = (const float*)p.q + (int64_t)b * p.q_batch_stride + (int64_t)h * p.q_head_stride + (int64_t)row * p.q_row_stride;
  const float* kg = (const float*)p.k + (int64_t)b * p.k_batch_stride + (int64_t)hk * p.k_head_stride;
  const float* vg = (const float*)p.v + (int64_t)b * p.v_batch_stride + (int64_t)hk * p.v_head_stride;
  float* og = (float*)p.o + (int64_t)b * p.o_batch_stride + (int64_t)h * p.o_head_stride + (int64_t)row * p.o_row_stride;
  const int kmax = causal ? max(0, min(Nk, row + offset + 1)) : Nk;
  F32Row<D> q, acc;
  q.load(qg, lane, hd);
  acc.zero();
  float m = -INFINITY, l = 0.f;
  const float sl2 = p.scale_log2;
  for (int j = 0; j < kmax; ++j) {
    const float s = f32_dot<D>(q, kg + (int64_t)j * p.k_row_stride, lane, hd) * sl2;
    const float mnew = fmaxf(m, s);
    const float alpha = exp2f(m - mnew);  // m = -inf on the first key: alpha = 0
    const float pe = exp2f(s - mnew);
    l = l * alpha + pe;
#pragma unroll
    for (int e = 0; e < D / 32; ++e) acc.x[e] *= alpha;
    f32_axpy<D>(acc, pe, vg + (int64_t)j * p.v_row_stride, lane, hd);
    m = mnew;
  }
  acc.store(og, lane, hd, l > 0.f ? 1.f / l : 0.f);
  if (lane == 0) p.lse[((int64_t)b * p.heads_q + h) * Nq + row] = l > 0.f ? (m + log2f(l)) * kLn2 : -INFINITY;
}

template <int D>
__device__ __forceinline__ void bwd_pre_f32_kernel(const FlashBwdParams& p) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.y, b = blockIdx.z, Nq = p.seqlen_q, hd = p.head_dim;
  const int row = blockIdx.x * F32Shape::ROWS + warp;
  if (row >= Nq) return;
  const float* og = (const float*)p.o + (int64_t)b * p.o_batch_stride + (int64_t)h * p.o_head_stride + (int64_t)row * p.o_row_stride;
  const float* dog = (const float*)p.dout + (int64_t)b * p.do_batch_stride + (int64_t)h * p.do_head_stride + (int64_t)row * p.do_row_stride;
  F32Row<D> o;
  o.load(og, lane, hd);
  const float s = f32_dot<D>(o, dog, lane, hd);
  if (lane == 0) p.delta[((int64_t)b * p.heads_q + h) * Nq + row] = s;
}

template <int D>
__device__ __forceinline__ void bwd_dkdv_f32_kernel(const FlashBwdParams& p) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int hk = blockIdx.y, b = blockIdx.z, group = p.heads_q / p.heads_kv;
  const int Nq = p.seqlen_q, Nk = p.seqlen_k, hd = p.head_dim;
  const int key = blockIdx.x * F32Shape::ROWS + warp;
  if (key >= Nk) return;
  const bool causal = p.mask != FLASH_MASK_NONE;
  const int offset = (p.mask == FLASH_MASK_CAUSAL_BOTTOM_RIGHT) ? Nk - Nq : 0;
  const float* kr = (const float*)p.k + (int64_t)b * p.k_batch_stride + (int64_t)hk * p.k_head_stride + (int64_t)key * p.k_row_stride;
  const float* vr = (const float*)p.v + (int64_t)b * p.v_batch_stride + (int64_t)hk * p.v_head_stride + (int64_t)key * p.v_row_stride;
  F32Row<D> k, v, dk, dv;
  k.load(kr, lane, hd);
  v.load(vr, lane, hd);
  dk.zero();
  dv.zero();
  const int i0 = causal ? max(0, key - offset) : 0;  // first query that sees this key
  const float sl2 = p.scale_log2;
  for (int hh = hk * group; hh < (hk + 1) * group; ++hh) {
    const float* qg = (const float*)p.q + (int64_t)b * p.q_batch_stride + (int64_t)hh * p.q_head_stride;
    const float* dog = (const float*)p.dout + (int64_t)b * p.do_batch_stride + (int64_t)hh * p.do_head_stride;
    const int64_t rb = ((int64_t)b * p.heads_q + hh) * Nq;
    for (int ib = i0; ib < Nq; ib += 64) {  // two-level sum: blocks of 64 queries
      F32Row<D> bk, bv;
      bk.zero();
      bv.zero();
      for (int i = ib; i < min(Nq, ib + 64); ++i) {
        const float lse = p.lse[rb + i];
        if (lse == -INFINITY) continue;  // row saw no key: P = 0
        const float* qr = qg + (int64_t)i * p.q_row_stride;
        const float* dor = dog + (int64_t)i * p.do_row_stride;
        const float s = f32_dot<D>(k, qr, lane, hd);
        const float pr = exp2f(s * sl2 - lse * kLog2e);
        const float dpv = f32_dot<D>(v, dor, lane, hd);
        const float ds = pr * (dpv - p.delta[rb + i]);
        f32_axpy<D>(bv, pr, dor, lane, hd);
        f32_axpy<D>(bk, ds, qr, lane, hd);
      }
#pragma unroll
      for (int e = 0; e < D / 32; ++e) {
        dk.x[e] += bk.x[e];
        dv.x[e] += bv.x[e];
      }
    }
  }
  dk.store((float*)p.dk + (int64_t)b * p.dk_batch_stride + (int64_t)hk * p.dk_head_stride + (int64_t)key * p.dk_row_stride, lane, hd, p.scale);
  dv.store((float*)p.dv + (int64_t)b * p.dv_batch_stride + (int64_t)hk * p.dv_head_stride + (int64_t)key * p.dv_row_stride, lane, hd, 1.f);
}

template <int D>
__device__ __forceinline__ void bwd_dq_f32_kernel(const FlashBwdParams& p) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.y, b = blockIdx.z, hk = h / (p.heads_q / p.heads_kv);
  const int Nq = p.seqlen_q, Nk = p.seqlen_k, hd = p.head_dim;
  const int row = blockIdx.x * F32Shape::ROWS + warp;
  if (row >= Nq) return;
  const bool causal = p.mask != FLASH_MASK_NONE;
  const int offset = (p.mask == FLASH_MASK_CAUSAL_BOTTOM_RIGHT) ? Nk - Nq : 0;
  const int64_t ri = ((int64_t)b * p.heads_q + h) * Nq + row;
  const float lse = p.lse[ri];
  const float* qr = (const float*)p.q + (int64_t)b * p.q_batch_stride + (int64_t)h * p.q_head_stride + (int64_t)row * p.q_row_stride;
  const float* dor = (const float*)p.dout + (int64_t)b * p.do_batch_stride + (int64_t)h * p.do_head_stride + (int64_t)row * p.do_row_stride;
  const float* kg = (const float*)p.k + (int64_t)b * p.k_batch_stride + (int64_t)hk * p.k_head_stride;
  const float* vg = (const float*)p.v + (int64_t)b * p.v_batch_stride + (int64_t)hk * p.v_head_stride;
  F32Row<D> q, dO, dq;
  q.load(qr, lane, hd);
  dO.load(dor, lane, hd);
  dq.zero();
  const int kmax = (lse == -INFINITY) ? 0 : (causal ? max(0, min(Nk, row + offset + 1)) : Nk);
  const float dl = p.delta[ri], l2 = lse * kLog2e, sl2 = p.scale_log2;
  for (int jb = 0; jb < kmax; jb += 64) {  // two-level sum: blocks of 64 keys
    F32Row<D> bq;
    bq.zero();
    for (int j = jb; j < min(kmax, jb + 64); ++j) {
      const float* kr = kg + (int64_t)j * p.k_row_stride;
      const float s = f32_dot<D>(q, kr, lane, hd);
      const float pr = exp2f(s * sl2 - l2);
      const float dpv = f32_dot<D>(dO, vg + (int64_t)j * p.v_row_stride, lane, hd);
      f32_axpy<D>(bq, pr * (dpv - dl), kr, lane, hd);
    }
#pragma unroll
    for (int e = 0; e < D / 32; ++e) dq.x[e] += bq.x[e];
  }
  dq.store((float*)p.dq + (int64_t)b * p.dq_batch_stride + (int64_t)h * p.dq_head_stride + (int64_t)row * p.dq_row_stride, lane, hd, p.scale);
}

}  // namespace fdjl
