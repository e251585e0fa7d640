// flash_bias.cuh - the score bias of the ABI (SCORE BIAS in flash_params.h): SDPA's attn_mask, a
// boolean mask or an additive float bias per (batch, head, query, key), read tile by tile.
//   ScoreBias:        what one CTA knows of it for one (sequence, query head): the state of a tile
//                     from the summary, the biased score of an element, the gradient of one;
//   bias_tiles_kernel: the summary, one byte per 64 x 64 cell, made once per bias.
// Every kernel treats the bias the same way: tiles whose cells are all hidden are skipped (the tile
// ranges shrink past them, and inner hidden tiles are not computed), tiles that need no read take the
// band alone, and the elements of the others are read where the band shows them.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <type_traits>
#include "flash_params.h"
#include "flash_views.cuh"

namespace fdjl {

constexpr int kBiasCell = 64;  // rows and keys per summary cell (the ABI's)
enum BiasKind : int { kBiasNone = 0, kBiasBool = 1, kBiasF32 = 2, kBiasF16 = 3, kBiasBf16 = 4 };
// the state of a summary cell, or of a tile (its cells combined)
enum TileState : int { kTileHidden = 0, kTileFull = 1, kTilePartial = 2 };
// bytes of one element of a bias of this kind
__host__ __device__ constexpr int bias_esize(int kind) { return kind == kBiasBool ? 1 : kind == kBiasF32 ? 4 : 2; }

// element `off` of a bias of this kind, as an additive float (a boolean: 0 kept, -inf hidden)
__device__ __forceinline__ float bias_at(const void* data, int64_t off, int kind) {
  switch (kind) {
    case kBiasBool: return static_cast<const uint8_t*>(data)[off] ? 0.f : -INFINITY;
    case kBiasF32: return static_cast<const float*>(data)[off];
    case kBiasF16: return __half2float(static_cast<const __half*>(data)[off]);
    default: return __bfloat162float(static_cast<const __nv_bfloat16*>(data)[off]);
  }
}

__device__ __forceinline__ int ceil_cells(int n) { return (n + kBiasCell - 1) / kBiasCell; }

// One CTA's view of the bias for one (sequence, query head). It keeps only three offsets and the
// sequence's first rows in registers; everything else is read from the kernel parameters `p` (the
// constant bank) when it is used. ON: whether the kernel reads a bias at all; the kernels that do are
// their own extern "C" kernels (flash_bwd_dkdv_bias_bf16_hd128, ...; flash_kernels.cu), so that with
// ON = false this code compiles to nothing and the other kernels are as they were.
template <bool ON> struct ScoreBias {
  int64_t at;       // element (row 0, key 0) of this sequence and head in bias.data,
  int64_t grad_at;  // ... and in bias.grad
  int64_t tiles_at; // cell (0, 0) of this batch and head in bias.tiles (cells are of the tensors' rows)
  int q0, k0;       // the sequence's first rows in the tensors

  template <typename P>
  __device__ __forceinline__ ScoreBias(const P& p, const Sequence& s, int h) : q0(s.q0), k0(s.k0) {
    if constexpr (!ON) return;
    const FlashBias& b = p.bias;
    at = (int64_t)s.batch * b.batch_stride + (int64_t)h * b.head_stride + (int64_t)q0 * b.row_stride + k0;
    grad_at = (int64_t)s.batch * b.grad_batch_stride + (int64_t)h * b.grad_head_stride +
              (int64_t)q0 * b.grad_row_stride + k0;
    tiles_at = (int64_t)s.batch * b.tiles_batch_stride + (int64_t)h * b.tiles_head_stride;
  }

  template <typename P>
  __device__ __forceinline__ static bool on(const P& p) { return ON; }

  // Whether the band shows key j to sequence row i where the bias is read: rows past the sequence's
  // length must not read it (Visibility::shows); without a bias, the band's own test.
  __device__ __forceinline__ static bool shows(const Visibility& vis, int i, int j) {
    return ON ? vis.shows(i, j) : vis.visible(i, j);
  }

  // The state of the tile of sequence rows [m0, m0 + br) and keys [n0, n0 + bc): hidden when all its
  // cells are, full (nothing to read) when all are, else partial. Without a bias: full.
  template <typename P>
  __device__ __forceinline__ int state(const P& p, int m0, int br, int n0, int bc) const {
    if (!on(p)) return kTileFull;
    const int cells_k = ceil_cells(p.seqlen_k);
    const int first = min(q0 + m0, p.seqlen_q - 1), last = max(first, min(q0 + m0 + br, p.seqlen_q) - 1);
    const int c0 = min((k0 + n0) / kBiasCell, cells_k - 1), c1 = min((k0 + n0 + bc - 1) / kBiasCell, cells_k - 1);
    const uint8_t* tiles = p.bias.tiles + tiles_at;
    bool hidden = true, full = true;
    for (int r = first / kBiasCell; r <= last / kBiasCell; ++r)
      for (int c = c0; c <= c1; ++c) {
        const int st = tiles[(int64_t)r * cells_k + c];
        hidden &= st == kTileHidden;
        full &= st == kTileFull;
      }
    return hidden ? kTileHidden : full ? kTileFull : kTilePartial;
  }

  // The raw score s of sequence row i, key j biased (a score the band shows, in a tile of state st):
  // s + bias / scale, so that the kernels' scale gives scale * s + bias; -inf where it is hidden.
  template <typename P>
  __device__ __forceinline__ float apply(const P& p, float s, int i, int j, int st) const {
    if (!ON || st == kTileFull) return s;
    if (st == kTileHidden) return -INFINITY;
    const float v = bias_at(p.bias.data, at + (int64_t)i * p.bias.row_stride + j, p.bias_kind);
    return fmaf(v, __fdividef(1.f, p.scale), s);
  }

  // s += bias / scale over a thread's accumulator fragment of NT8 groups of 8 columns, in a tile of state
  // kTilePartial, read from global memory with the bias kind fixed per tile (four typed loops: the addresses are then
  // one row pointer and constant offsets, and every load of the fragment is issued before the first is used; one
  // load per element in the kind's switch, issued where it was used, ran ALiBi backwards at 0.11x of unmasked:
  // PERF_LOG.md). Register 4n + e holds query q0 + 8 (e >> 1), key k0 + 8n + (e & 1) (ROWS_ARE_KEYS false: the
  // forward's layout), or query q0 + 8n + (e & 1), key k0 + 8 (e >> 1) (true: the transposed scores of the dK/dV
  // kernels). Elements past nq queries or nk keys are not read: they are hidden, or rows that are never stored.
  template <int NT8, bool ROWS_ARE_KEYS, typename P>
  __device__ __forceinline__ void add_partial(const P& p, float* s, int q0, int k0, int nq, int nk) const {
    if constexpr (ON) {
      switch (p.bias_kind) {
        case kBiasBool: add_typed<uint8_t, NT8, ROWS_ARE_KEYS>(p, s, q0, k0, nq, nk); break;
        case kBiasF32: add_typed<float, NT8, ROWS_ARE_KEYS>(p, s, q0, k0, nq, nk); break;
        case kBiasF16: add_typed<__half, NT8, ROWS_ARE_KEYS>(p, s, q0, k0, nq, nk); break;
        default: add_typed<__nv_bfloat16, NT8, ROWS_ARE_KEYS>(p, s, q0, k0, nq, nk); break;
      }
    }
  }
  template <typename E, int NT8, bool ROWS_ARE_KEYS, typename P>
  __device__ __forceinline__ void add_typed(const P& p, float* s, int q0, int k0, int nq, int nk) const {
    const E* data = static_cast<const E*>(p.bias.data) + at;
    const int64_t rs = p.bias.row_stride;
    const float inv_scale = __fdividef(1.f, p.scale);  // the kernels' scale gives scale * s + bias
    float v[4 * NT8];
#pragma unroll
    for (int n = 0; n < NT8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int q = ROWS_ARE_KEYS ? q0 + 8 * n + (e & 1) : q0 + 8 * (e >> 1);
        const int k = ROWS_ARE_KEYS ? k0 + 8 * (e >> 1) : k0 + 8 * n + (e & 1);
        v[4 * n + e] = 0.f;
        if (q < nq && k < nk) {
          const E x = data[(int64_t)q * rs + k];
          if constexpr (std::is_same_v<E, uint8_t>) v[4 * n + e] = x ? 0.f : -INFINITY;
          else if constexpr (std::is_same_v<E, float>) v[4 * n + e] = x;
          else if constexpr (std::is_same_v<E, __half>) v[4 * n + e] = __half2float(x);
          else v[4 * n + e] = __bfloat162float(x);
        }
      }
#pragma unroll
    for (int i = 0; i < 4 * NT8; ++i) s[i] = fmaf(v[i], inv_scale, s[i]);
  }

  // Asks L2 for the bias of sequence rows [q0, q0 + rows) (those below nq) x keys [k0, k0 + keys): one 128-byte
  // line per thread (tid of nt) and step. The wgmma dK/dV kernel (d <= 128) reads a partial tile from global memory
  // (add_partial) only once the tile's S^T is ready, and then waited on DRAM: it asks for the next item's lines one
  // item ahead (ALiBi's backward 1.5-2x; the 3xTF32 kernels did not gain: PERF_LOG "The backward's bias lines asked
  // of L2 one item ahead").
  template <typename P>
  __device__ __forceinline__ void prefetch_l2(const P& p, int q0, int rows, int k0, int keys, int nq, int tid,
                                              int nt) const {
    if constexpr (ON) {
      const int es = bias_esize(p.bias_kind), bytes = keys * es;
      const int lines = bytes / 128 + 2;  // a row's bytes may start anywhere in a line
      const char* data = static_cast<const char*>(p.bias.data);
      for (int i = tid; i < rows * lines; i += nt) {
        const int r = i / lines, c = i - r * lines;
        if (q0 + r >= nq) continue;
        const int64_t off = at + (int64_t)(q0 + r) * p.bias.row_stride + k0;
        const uintptr_t first = reinterpret_cast<uintptr_t>(data + off * es);
        const uintptr_t line = (first & ~uintptr_t(127)) + 128 * c;
        if (line < first + bytes) asm volatile("prefetch.global.L2 [%0];\n" ::"l"(line));
      }
    }
  }

  template <typename P>
  __device__ __forceinline__ static bool has_grad(const P& p) { return ON && p.bias.grad != nullptr; }

  // dS of sequence row i, key j into the gradient (callers add each element they compute once)
  template <typename P>
  __device__ __forceinline__ void add_grad(const P& p, int i, int j, float ds) const {
    if (has_grad(p) && ds != 0.f) atomicAdd(p.bias.grad + grad_at + (int64_t)i * p.bias.grad_row_stride + j, ds);
  }

  // The key tiles of bc keys that rows [m0, m0 + br) visit, without hidden tiles at either end.
  template <typename P>
  __device__ __forceinline__ TileRange keys(const P& p, TileRange kt, int m0, int br, int bc) const {
    if (!on(p)) return kt;
    while (kt.begin < kt.end && state(p, m0, br, kt.begin * bc, bc) == kTileHidden) ++kt.begin;
    while (kt.end > kt.begin && state(p, m0, br, (kt.end - 1) * bc, bc) == kTileHidden) --kt.end;
    return kt;
  }

  // The query tiles of br rows that visit keys [n0, n0 + bc), without hidden tiles at either end.
  template <typename P>
  __device__ __forceinline__ TileRange queries(const P& p, TileRange qt, int n0, int bc, int br) const {
    if (!on(p)) return qt;
    while (qt.begin < qt.end && state(p, qt.begin * br, br, n0, bc) == kTileHidden) ++qt.begin;
    while (qt.end > qt.begin && state(p, (qt.end - 1) * br, br, n0, bc) == kTileHidden) --qt.end;
    return qt;
  }
};

// The summary: one CTA per cell, its threads striding over the 64 x 64 elements in row order (a
// warp reads half a row of keys at a time).
__device__ __forceinline__ void bias_tiles_kernel(const FlashBiasTilesParams& p) {
  const FlashBias& b = p.bias;
  const int cells_k = ceil_cells(p.seqlen_k), cells_q = ceil_cells(p.seqlen_q);
  const int bh = blockIdx.z, bb = bh / p.heads, hh = bh % p.heads;
  const int r0 = blockIdx.y * kBiasCell, c0 = blockIdx.x * kBiasCell;
  const int64_t base = (int64_t)bb * b.batch_stride + (int64_t)hh * b.head_stride;
  bool any_shown = false, all_free = true;
  for (int e = threadIdx.x; e < kBiasCell * kBiasCell; e += blockDim.x) {
    const int r = r0 + e / kBiasCell, c = c0 + e % kBiasCell;
    if (r >= p.seqlen_q || c >= p.seqlen_k) continue;
    const float v = bias_at(b.data, base + (int64_t)r * b.row_stride + c, p.bias_kind);
    any_shown |= v != -INFINITY;
    all_free &= v == 0.f;
  }
  any_shown = __syncthreads_or(any_shown);
  all_free = __syncthreads_and(all_free);
  if (threadIdx.x == 0) {
    uint8_t* out = const_cast<uint8_t*>(b.tiles) + ((int64_t)bh * cells_q + blockIdx.y) * cells_k + blockIdx.x;
    *out = !any_shown ? kTileHidden : all_free ? kTileFull : kTilePartial;
  }
}

}  // namespace fdjl
