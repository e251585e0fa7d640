// flash_views.cuh - the two small types every kernel reads its parameters through:
//   StridedView<T>: a [B, H, N, D] tensor of the ABI (FlashTensor) as a typed pointer with
//                   element strides, the device twin of the Java KernelParams.Strides;
//   Visibility:     which keys each query sees (the band of the ABI), and the tile ranges and
//                   mask decisions that follow from it.
#pragma once
#include <limits.h>
#include <stdint.h>
#include "flash_params.h"

namespace fdjl {

template <typename T> struct StridedView {
  T* ptr;
  int64_t batch, head, row;  // element strides

  __device__ __forceinline__ explicit StridedView(const FlashTensor& t)
      : ptr(static_cast<T*>(t.data)), batch(t.batch_stride), head(t.head_stride), row(t.row_stride) {}
  // row 0 of head h of batch b
  __device__ __forceinline__ T* at(int b, int h) const { return ptr + (int64_t)b * batch + (int64_t)h * head; }
  // row i of head h of batch b
  __device__ __forceinline__ T* row_at(int b, int h, int i) const { return at(b, h) + (int64_t)i * row; }
};

// Offset of (b, h, row 0) in a contiguous [B, H, N] float32 array (lse, delta; dq_accum rows).
__device__ __forceinline__ int64_t stats_row0(int b, int h, int heads, int n) {
  return ((int64_t)b * heads + h) * n;
}

// A half-open range of tile indices.
struct TileRange {
  int begin, end;
  __host__ __device__ __forceinline__ int size() const { return end - begin; }
};

// Key j is visible to query i iff i + lo <= j <= i + hi and j < Nk (i < Nq). Both bounds are
// honoured everywhere; without a lower bound (lo = -Nq) every lower-bound test below is false
// for every valid row, so the common case costs what a causal-only rule costs. The ABI's
// precondition (Nq + Nk < 2^31 - 256, -Nq <= lo, hi <= Nk) keeps every sum below in int.
struct Visibility {
  int Nq, Nk, lo, hi;

  template <typename P>
  __host__ __device__ __forceinline__ explicit Visibility(const P& p)
      : Nq(p.seqlen_q), Nk(p.seqlen_k), lo(p.vis_lo), hi(p.vis_hi) {}

  // i + lo <= j <= i + hi as one unsigned range test (lo <= hi is a precondition): as cheap as
  // the upper bound alone, which matters in the register-bound mask loops
  __host__ __device__ __forceinline__ bool visible(int i, int j) const {
    return j < Nk && (unsigned)(j - i - lo) <= (unsigned)(hi - lo);
  }

  // Whether the upper edge of the band hides keys from some row (causal-like): later query
  // tiles then see more keys, which schedules use to start them first.
  __host__ __device__ __forceinline__ bool upper_bounded() const { return hi < Nk - 1; }

  // Whether some key of [n0, n0 + bc) is not visible to some valid row of [m0, m0 + br): only
  // such tiles need the per-element mask (keys past Nk, past the diagonal of the first row, or
  // below the band of the last row).
  __host__ __device__ __forceinline__ bool needs_mask(int m0, int br, int n0, int bc) const {
    return masked_key_tiles(m0, br, bc)(n0);
  }

  // needs_mask over the key tiles a row tile visits, as two thresholds computed once per CTA, so
  // that the per-tile test of the forward loops costs two compares and two registers.
  struct MaskedTiles {
    int below, above;  // the tile at x needs the mask iff x < below or x > above
    __host__ __device__ __forceinline__ bool operator()(int x) const { return x < below || x > above; }
  };
  // for the key tiles (x = n0) of the row tile [m0, m0 + br)
  __host__ __device__ __forceinline__ MaskedTiles masked_key_tiles(int m0, int br, int bc) const {
    return {min(m0 + br, Nq) - 1 + lo, min(Nk, m0 + hi + 1) - bc};
  }

  // Key tiles of bc keys holding a key visible to some row of [m0, m0 + br); empty when none.
  __host__ __device__ __forceinline__ TileRange key_tiles(int m0, int br, int bc) const {
    const int first = m0 + lo;        // the first row's first key
    const int lim = min(Nk, m0 + br + hi);  // keys < lim may be visible to some row
    const int end = lim <= 0 ? 0 : (lim + bc - 1) / bc;
    const int begin = first <= 0 ? 0 : first / bc;
    return {begin, max(begin, end)};
  }

  // Query tiles of br rows holding a row that sees some key of [n0, n0 + bc); empty when none.
  __host__ __device__ __forceinline__ TileRange query_tiles(int n0, int bc, int br) const {
    const int m_tiles = (Nq + br - 1) / br;
    const int first = n0 - hi;                // the first row that sees key n0
    const int lim = min(Nq, n0 + bc - lo);    // rows < lim may see a key of the tile
    const int begin = first <= 0 ? 0 : (first > Nq - 1 ? m_tiles : first / br);
    const int end = lim <= 0 ? 0 : (lim + br - 1) / br;
    return {begin, max(begin, end)};
  }

  // keys query i sees: [first_key(i), end_key(i)) (empty when first >= end)
  __host__ __device__ __forceinline__ int first_key(int i) const { return max(0, i + lo); }
  __host__ __device__ __forceinline__ int end_key(int i) const { return min(Nk, i + hi + 1); }
  // queries that see key j: [first_query(j), end_query(j))
  __host__ __device__ __forceinline__ int first_query(int j) const { return max(0, j - hi); }
  __host__ __device__ __forceinline__ int end_query(int j) const { return min(Nq, j - lo + 1); }
};

}  // namespace fdjl
