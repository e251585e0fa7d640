// flash_f32.cuh - float32 attention: simple SIMT kernels (fp32 FMA), one warp per row. They serve the
// float32 kernels wherever flash_tiles.h does not pick the 3xTF32 tensor-core ones (f32_on_tensor_cores),
// and the delta pass everywhere.
//
// Lane l of a warp holds elements d = l + 32*e (e < D/32) of a row, so any head_dim <= D works
// and every load is a coalesced 4-byte load. Dot products are warp reductions. Exact exp2f,
// fp32 accumulation everywhere. Correct on every shape; speed is secondary.
//   fwd:     warp per query row, online softmax over the visible keys.
//   pre:     delta = rowsum(dO * O), and dq_accum zeroed where the launcher passes one (the atomic mode of the
//            3xTF32 dK/dV kernels that add dQ, f32_dkdv_adds_dq).
//   dkdv:    warp per key row; loops over the q heads of the group and the visible queries.
//   dq:      warp per query row; recomputes P and dS, dq = scale * sum_j dS_ij k_j. No atomics:
//            the launcher runs it in both modes for these head dims.
// Every loop runs over exactly the visible keys (or queries) of its row (Visibility); a score bias is
// read for each of them (no tile summary: these kernels have no tiles to skip).
#pragma once
#include "flash_bias.cuh"
#include "flash_bwd_tile.cuh"
#include "flash_common.cuh"
#include "flash_dropout.cuh"
#include "flash_tiles.h"

namespace fdjl {

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

template <int D, bool BIAS>
__device__ __forceinline__ void fwd_f32_kernel(const FlashFwdParams& p) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.y, hk = kv_head_of(p, h);
  const Sequence seq(p, blockIdx.z);
  const Visibility vis(p, seq);
  const int hd = p.head_dim;
  const int row = blockIdx.x * F32Shape::ROWS + warp;
  if (row >= seq.q_rows) return;
  const StridedView<const float> kv(p.k), vv(p.v);
  const float* qg = seq.q_at(StridedView<const float>(p.q), h) + (int64_t)row * p.q.row_stride;
  const float* kg = seq.k_at(kv, hk);
  const float* vg = seq.k_at(vv, hk);
  float* og = seq.q_at(StridedView<float>(p.o), h) + (int64_t)row * p.o.row_stride;
  const int k0 = vis.first_key(row);
  const int kend = row < vis.Nq ? vis.end_key(row) : k0;  // a padding row sees no key
  const Dropout drop(p, blockIdx.z, h);
  const ScoreBias<BIAS> bias(p, seq, h);
  F32Row<D> q, acc;
  q.load(qg, lane, hd);
  acc.zero();
  float m = -INFINITY, l = 0.f;
  const float sl2 = p.scale_log2;
  for (int j = k0; j < kend; ++j) {
    float s = f32_dot<D>(q, kg + (int64_t)j * kv.row, lane, hd);
    if (BIAS) {
      s = bias.apply(p, s, row, j, kTilePartial);
      if (s == -INFINITY) continue;  // hidden by the bias (and m may still be -inf: no inf - inf)
    }
    s *= sl2;
    const float mnew = fmaxf(m, s);
    const float alpha = exp2f(m - mnew);  // m = -inf on the first key: alpha = 0
    const float pe = exp2f(s - mnew);
    l = l * alpha + pe;
#pragma unroll
    for (int e = 0; e < D / 32; ++e) acc.x[e] *= alpha;
    // dropout after the row sum: the softmax is that of the undropped P
    const float pz = drop.on() ? (drop.keep(row, j) ? pe * drop.scale : 0.f) : pe;
    f32_axpy<D>(acc, pz, vg + (int64_t)j * vv.row, lane, hd);
    m = mnew;
  }
  acc.store(og, lane, hd, l > 0.f ? 1.f / l : 0.f);
  if (lane == 0) p.lse[seq.stats_row0(h, p.heads_q, p.seqlen_q) + row] = l > 0.f ? (m + log2f(l)) * kLn2 : -INFINITY;
}

template <int D>
__device__ __forceinline__ void bwd_pre_f32_kernel(const FlashBwdParams& p) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.y, b = blockIdx.z, Nq = p.seqlen_q, hd = p.head_dim;
  const int row = blockIdx.x * F32Shape::ROWS + warp;
  if (row >= Nq) return;
  const float* og = StridedView<const float>(p.o).row_at(b, h, row);
  const float* dog = StridedView<const float>(p.dout).row_at(b, h, row);
  F32Row<D> o;
  o.load(og, lane, hd);
  const float s = f32_dot<D>(o, dog, lane, hd);
  const int64_t rowbase = stats_row0(b, h, p.heads_q, Nq);
  if (lane == 0) p.delta[rowbase + row] = s;
  zero_dq_accum_row<D>(p, rowbase + row, lane);
}

template <int D, bool BIAS>
__device__ __forceinline__ void bwd_dkdv_f32_kernel(const FlashBwdParams& p) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int hk = blockIdx.y, group = gqa_group(p);
  const Sequence seq(p, blockIdx.z);
  const Visibility vis(p, seq);
  const int hd = p.head_dim;
  const int key = blockIdx.x * F32Shape::ROWS + warp;
  if (key >= seq.k_rows) return;
  const float* kr = seq.k_at(StridedView<const float>(p.k), hk) + (int64_t)key * p.k.row_stride;
  const float* vr = seq.k_at(StridedView<const float>(p.v), hk) + (int64_t)key * p.v.row_stride;
  const StridedView<const float> qv(p.q), dov(p.dout);
  F32Row<D> k, v, dk, dv;
  k.load(kr, lane, hd);
  v.load(vr, lane, hd);
  dk.zero();
  dv.zero();
  const int i0 = vis.first_query(key);
  const int iend = key < vis.Nk ? vis.end_query(key) : i0;  // the queries that see this key: none for padding
  const float sl2 = p.scale_log2;
  for (int hh = hk * group; hh < (hk + 1) * group; ++hh) {
    const float* qg = seq.q_at(qv, hh);
    const float* dog = seq.q_at(dov, hh);
    const int64_t rb = seq.stats_row0(hh, p.heads_q, p.seqlen_q);
    const Dropout drop(p, blockIdx.z, hh);
    const ScoreBias<BIAS> bias(p, seq, hh);
    for (int ib = i0; ib < iend; ib += 64) {  // two-level sum: blocks of 64 queries
      F32Row<D> bk, bv;
      bk.zero();
      bv.zero();
      for (int i = ib; i < min(iend, ib + 64); ++i) {
        const float lse = p.lse[rb + i];
        if (lse == -INFINITY) continue;  // row saw no key: P = 0
        const float* qr = qg + (int64_t)i * qv.row;
        const float* dor = dog + (int64_t)i * dov.row;
        float s = f32_dot<D>(k, qr, lane, hd);
        if (BIAS) s = bias.apply(p, s, i, key, kTilePartial);
        const float pr = exp2f(s * sl2 - lse * kLog2e);
        const float dpv = f32_dot<D>(v, dor, lane, hd);
        const float z = drop.on() ? (drop.keep(i, key) ? drop.scale : 0.f) : 1.f;  // the forward's dropout
        const float ds = pr * (z * dpv - p.delta[rb + i]);
        if (lane == 0) bias.add_grad(p, i, key, ds);
        f32_axpy<D>(bv, z * pr, dor, lane, hd);
        f32_axpy<D>(bk, ds, qr, lane, hd);
      }
#pragma unroll
      for (int e = 0; e < D / 32; ++e) {
        dk.x[e] += bk.x[e];
        dv.x[e] += bv.x[e];
      }
    }
  }
  dk.store(seq.k_at(StridedView<float>(p.dk), hk) + (int64_t)key * p.dk.row_stride, lane, hd, p.scale);
  dv.store(seq.k_at(StridedView<float>(p.dv), hk) + (int64_t)key * p.dv.row_stride, lane, hd, 1.f);
}

template <int D, bool BIAS>
__device__ __forceinline__ void bwd_dq_f32_kernel(const FlashBwdParams& p) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.y, hk = kv_head_of(p, h);
  const Sequence seq(p, blockIdx.z);
  const Visibility vis(p, seq);
  const int hd = p.head_dim;
  const int row = blockIdx.x * F32Shape::ROWS + warp;
  if (row >= seq.q_rows) return;
  float* dqr = seq.q_at(StridedView<float>(p.dq), h) + (int64_t)row * p.dq.row_stride;
  F32Row<D> q, dO, dq;
  dq.zero();
  if (row >= vis.Nq) {  // a padding row: dq = 0, and its q, dO, LSE are never read
    dq.store(dqr, lane, hd, 1.f);
    return;
  }
  const int64_t ri = seq.stats_row0(h, p.heads_q, p.seqlen_q) + row;
  const float lse = p.lse[ri];
  const float* qr = seq.q_at(StridedView<const float>(p.q), h) + (int64_t)row * p.q.row_stride;
  const float* dor = seq.q_at(StridedView<const float>(p.dout), h) + (int64_t)row * p.dout.row_stride;
  const StridedView<const float> kv(p.k), vv(p.v);
  const float* kg = seq.k_at(kv, hk);
  const float* vg = seq.k_at(vv, hk);
  q.load(qr, lane, hd);
  dO.load(dor, lane, hd);
  const int k0 = vis.first_key(row);
  const int kend = (lse == -INFINITY) ? k0 : vis.end_key(row);  // a row that saw no key: dq = 0
  const float dl = p.delta[ri], l2 = lse * kLog2e, sl2 = p.scale_log2;
  const Dropout drop(p, blockIdx.z, h);
  const ScoreBias<BIAS> bias(p, seq, h);
  for (int jb = k0; jb < kend; jb += 64) {  // two-level sum: blocks of 64 keys
    F32Row<D> bq;
    bq.zero();
    for (int j = jb; j < min(kend, jb + 64); ++j) {
      const float* kr = kg + (int64_t)j * kv.row;
      float s = f32_dot<D>(q, kr, lane, hd);
      if (BIAS) s = bias.apply(p, s, row, j, kTilePartial);
      const float pr = exp2f(s * sl2 - l2);
      const float dpv = f32_dot<D>(dO, vg + (int64_t)j * vv.row, lane, hd);
      const float z = drop.on() ? (drop.keep(row, j) ? drop.scale : 0.f) : 1.f;  // the forward's dropout
      f32_axpy<D>(bq, pr * (z * dpv - dl), kr, lane, hd);
    }
#pragma unroll
    for (int e = 0; e < D / 32; ++e) dq.x[e] += bq.x[e];
  }
  dq.store(dqr, lane, hd, p.scale);
}

}  // namespace fdjl
