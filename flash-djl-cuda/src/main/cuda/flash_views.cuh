// flash_views.cuh - the two small types every kernel reads its parameters through:
//   StridedView<T>: a [B, H, N, D] tensor of the ABI (FlashTensor) as a typed pointer with
//                   element strides, the device twin of the Java KernelParams.Strides;
//   Sequence:       where the rows of one sequence (grid z) are in the tensors and how many of
//                   them take part (the SEQUENCES of the ABI: padded lengths, packed offsets);
//   Visibility:     which keys each query of a sequence sees (the band of the ABI), and the tile
//                   ranges and mask decisions that follow from it.
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

// Grouped-query attention (flash_params.h): each K/V head serves gqa_group(p) consecutive query heads, so query head
// h reads K/V head kv_head_of(p, h), and K/V head hk serves query heads hk * gqa_group(p) on.
template <typename P> __host__ __device__ __forceinline__ int gqa_group(const P& p) { return p.heads_q / p.heads_kv; }
// (H: the index's own type; a grid index stays unsigned, whose division is the cheaper one)
template <typename P, typename H> __host__ __device__ __forceinline__ H kv_head_of(const P& p, H h) {
  return h / gqa_group(p);
}

// Offset of (b, h, row 0) in a contiguous [B, H, N] float32 array (lse, delta; dq_accum rows).
__device__ __forceinline__ int64_t stats_row0(int b, int h, int heads, int n) {
  return ((int64_t)b * heads + h) * n;
}

// The rows of sequence s (the grid's z index) in the tensors. Without offsets, sequence s is batch
// row s, rows 0 .. seqlen - 1; with offsets (packed sequences, batch 1), it is rows offsets[s] ..
// offsets[s + 1] - 1 of batch row 0. With lengths, only the first lengths[s] of those rows take
// part (clamped to [0, rows]): later queries see no key (O = 0, LSE = -inf, zero gradients) and
// later keys are seen by no query (dK = dV = 0), whatever those rows hold.
struct Sequence {
  int batch;             // the tensors' batch index
  int q0, k0;            // first row of the sequence in the tensors
  int q_rows, k_rows;    // rows stored for it (the bound of every write)
  int q_len, k_len;      // rows taking part (the bound of every read)

  template <typename P>
  __host__ __device__ __forceinline__ Sequence(const P& p, int s) {
    batch = p.q_offsets != nullptr ? 0 : s;
    q0 = p.q_offsets != nullptr ? p.q_offsets[s] : 0;
    k0 = p.k_offsets != nullptr ? p.k_offsets[s] : 0;
    q_rows = p.q_offsets != nullptr ? p.q_offsets[s + 1] - q0 : p.seqlen_q;
    k_rows = p.k_offsets != nullptr ? p.k_offsets[s + 1] - k0 : p.seqlen_k;
    q_len = p.q_lengths != nullptr ? min(max(p.q_lengths[s], 0), q_rows) : q_rows;
    k_len = p.k_lengths != nullptr ? min(max(p.k_lengths[s], 0), k_rows) : k_rows;
  }

  // row 0 of head h of this sequence in a q-shaped (q, o, dout, dq) or k-shaped (k, v, dk, dv) view
  template <typename T>
  __device__ __forceinline__ T* q_at(const StridedView<T>& t, int h) const { return t.at(batch, h) + (int64_t)q0 * t.row; }
  template <typename T>
  __device__ __forceinline__ T* k_at(const StridedView<T>& t, int h) const { return t.at(batch, h) + (int64_t)k0 * t.row; }
  // offset of (head h, row 0) of this sequence in a contiguous [B, heads, seqlen_q] float32 array
  __device__ __forceinline__ int64_t stats_row0(int h, int heads, int seqlen_q) const {
    return ((int64_t)batch * heads + h) * seqlen_q + q0;
  }
};

// A half-open range of tile indices.
struct TileRange {
  int begin, end;
  __host__ __device__ __forceinline__ int size() const { return end - begin; }
};

// Key j is visible to query i of a sequence iff i + lo <= j <= i + hi, i < Nq and j < Nk, where Nq
// and Nk count the sequence's rows that take part (Sequence::q_len, k_len). Both band bounds are
// honoured everywhere; without a lower bound (lo = -Nq) every lower-bound test below is false
// for every valid row, so the common case costs what a causal-only rule costs. The ABI's
// precondition (Nq + Nk < 2^31 - 256, -Nq <= lo, hi <= Nk) keeps every sum below in int.
struct Visibility {
  int Nq, Nk, lo, hi;

  // The band of the ABI is that of the whole tensors (seqlen_q x seqlen_k). A sequence of other
  // lengths keeps it when it is anchored top-left; anchored bottom-right, it moves with the
  // sequence's own corner (by (k_len - q_len) - (seqlen_k - seqlen_q)). Clamping to [-Nq, Nk] then
  // gives exactly the band Java computes for the sequence's lengths (io.flashdjl.spi.Visibility).
  template <typename P>
  __host__ __device__ __forceinline__ Visibility(const P& p, const Sequence& s) : Nq(s.q_len), Nk(s.k_len) {
    const int shift = p.vis_bottom_right ? (s.k_len - s.q_len) - (p.seqlen_k - p.seqlen_q) : 0;
    lo = min(max(p.vis_lo + shift, -Nq), Nk);
    hi = min(max(p.vis_hi + shift, -Nq), Nk);
  }

  // i + lo <= j <= i + hi as one unsigned range test (lo <= hi is a precondition): as cheap as
  // the upper bound alone, which matters in the register-bound mask loops
  __host__ __device__ __forceinline__ bool visible(int i, int j) const {
    return j < Nk && (unsigned)(j - i - lo) <= (unsigned)(hi - lo);
  }

  // visible() for a row that takes part: rows of a tile past Nq pass visible() for some keys, which the
  // kernels' P = 0 there makes harmless, but the score bias must not be read for them
  __host__ __device__ __forceinline__ bool shows(int i, int j) const { return i < Nq && visible(i, j); }

  // Whether the upper edge of the band hides keys from some row (causal-like): later query
  // tiles then see more keys, which schedules use to start them first.
  __host__ __device__ __forceinline__ bool upper_bounded() const { return hi < Nk - 1; }
  // Whether every row sees every key (no band cuts): then every key tile sees every query tile.
  __host__ __device__ __forceinline__ bool unbanded() const { return lo <= 1 - Nq && hi >= Nk - 1; }

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
    return {begin, m0 >= Nq ? begin : max(begin, end)};  // rows past the length see nothing
  }

  // Query tiles of br rows holding a row that sees some key of [n0, n0 + bc); empty when none.
  __host__ __device__ __forceinline__ TileRange query_tiles(int n0, int bc, int br) const {
    const int m_tiles = (Nq + br - 1) / br;
    const int first = n0 - hi;                // the first row that sees key n0
    const int lim = min(Nq, n0 + bc - lo);    // rows < lim may see a key of the tile
    const int begin = first <= 0 ? 0 : (first > Nq - 1 ? m_tiles : first / br);
    const int end = lim <= 0 ? 0 : (lim + br - 1) / br;
    return {begin, n0 >= Nk ? begin : max(begin, end)};  // keys past the length are seen by none
  }

  // keys query i sees: [first_key(i), end_key(i)) (empty when first >= end)
  __host__ __device__ __forceinline__ int first_key(int i) const { return max(0, i + lo); }
  __host__ __device__ __forceinline__ int end_key(int i) const { return min(Nk, i + hi + 1); }
  // queries that see key j: [first_query(j), end_query(j))
  __host__ __device__ __forceinline__ int first_query(int j) const { return max(0, j - hi); }
  __host__ __device__ __forceinline__ int end_query(int j) const { return min(Nq, j - lo + 1); }
};

}  // namespace fdjl
