// flash_bwd_tile.cuh - what the backward's kernels know about their CTA's tile:
//  - BwdKeyTile, both dK/dV kernels (mma.sync and wgmma): a tile of keys, the sequence, the K/V pointers, the
//    visibility band and the (GQA query head, Q tile) work items that can see those keys (Q tiles that see
//    none of them, by the band or the score bias, are skipped);
//  - DqRowTile, both 16-bit dQ kernels of the deterministic mode (mma.sync and wgmma): a tile of query rows,
//    the Q, dO, K and V pointers it reads, the key tiles its rows see, their LSE and delta, and the store of dQ.
//  - store_dkdv, every dK/dV kernel: dK * scale and dV of a thread's two keys, from the accumulator layout.
//  - zero_dq_accum_row, every pre kernel: the atomic mode's float32 dQ accumulator, zeroed row by row.
#pragma once
#include "flash_bias.cuh"
#include "flash_common.cuh"
#include "flash_dropout.cuh"
#include "flash_tiles.h"

namespace fdjl {

// The deterministic modes (FlashBwdParams.deterministic): the dq kernel's, and ORDERED DQ's (flash_params.h), where
// the dK/dV kernel adds dQ as in the atomic mode but in a fixed order
constexpr int kDqKernelMode = 1, kOrderedDqMode = 2;
__device__ __forceinline__ bool dq_through_accum(const FlashBwdParams& p) { return p.deterministic != kDqKernelMode; }

// The dq_accum row `row` of the modes that add into it (the dK/dV kernels add dQ into it), zeroed by a pre kernel's
// warp where the launcher passes the accumulator: the one rule of every dtype's pre kernel.
template <int D>
__device__ __forceinline__ void zero_dq_accum_row(const FlashBwdParams& p, int64_t row, int lane) {
  if (dq_through_accum(p) && p.dq_accum != nullptr) {
    float4* acc = reinterpret_cast<float4*>(p.dq_accum + row * dq_accum_cols(D));
    for (int c = lane; c < dq_accum_cols(D) / 4; c += 32) acc[c] = make_float4(0.f, 0.f, 0.f, 0.f);
  }
}

// ORDERED DQ's turn counter of the 64 query rows from `row` (a multiple of 64) of query head h of tensor batch b: the
// number of the last key tile that added into them, plus one (0 before any, as pre leaves it)
__device__ __forceinline__ uint32_t* dq_turn(const FlashBwdParams& p, int b, int h, int row) {
  return p.dq_turns + ((int64_t)b * p.heads_q + h) * ((p.seqlen_q + 63) / 64) + row / 64;
}
// ... which the pre kernel zeroes, with the rows of dq_accum (one lane of the warp of the slot's first row)
__device__ __forceinline__ void zero_dq_turn(const FlashBwdParams& p, int b, int h, int row, int lane) {
  if (p.deterministic == kOrderedDqMode && row % 64 == 0 && lane == 0) *dq_turn(p, b, h, row) = 0;
}

template <typename T, bool BIAS = false> struct BwdKeyTile {
  Sequence seq;
  const T *k, *v;  // row 0 of this sequence's (batch, kv head)
  int hd, n0, group;
  Visibility vis;  // vis.Nk: keys taking part, the bound of every read
  Dropout drop0;   // of this sequence and query head 0 (plus_heads(hh) for query head hh)
  int m_begin;     // first Q tile (of BR rows) that can see a key of this tile
  int per_head;    // Q tiles per query head from m_begin on
  int total;       // work items: per_head for each of the group's query heads
  bool staggered;  // STAGGERED STARTS (flash_params.h)
  int start;       // the Q tile (of per_head) each head's walk starts at: 0 unless staggered
  int next_start;  // ... and that of key tile n0 / BCK + 1 (per_head for the last key tile)

  // reversed: CTA x takes key tile gridDim.x - 1 - x (ORDERED DQ's order of starting); stagger: STAGGERED STARTS
  // where the band cuts nothing (the caller's conditions: no score bias, no packed sequences)
  __device__ __forceinline__ BwdKeyTile(const FlashBwdParams& p, int BCK, int BR, bool reversed = false,
                                        bool stagger = false)
      : seq(p, blockIdx.z), vis(p, seq), drop0(p, blockIdx.z, 0) {
    const int hk = blockIdx.y;
    group = gqa_group(p);
    hd = p.head_dim;
    n0 = (reversed ? gridDim.x - 1 - blockIdx.x : blockIdx.x) * BCK;
    k = seq.k_at(StridedView<const T>(p.k), hk);
    v = seq.k_at(StridedView<const T>(p.v), hk);
    TileRange qt = vis.query_tiles(n0, BCK, BR);
    if constexpr (BIAS) {  // the Q tiles of any head of the group that the bias leaves
      TileRange u{qt.end, qt.begin};
      for (int i = 0; i < group; ++i) {
        const TileRange r = ScoreBias<true>(p, seq, hk * group + i).queries(p, qt, n0, BCK, BR);
        if (r.size() > 0) u = {min(u.begin, r.begin), max(u.end, r.end)};
      }
      qt = u.size() > 0 ? u : TileRange{qt.begin, qt.begin};
    }
    m_begin = qt.begin;
    per_head = qt.size();
    total = per_head * group;
    // key tile j of the n that see every Q tile starts at Q tile j per_head / n: the key tiles reach a Q tile at
    // steps spread over the walk, not all at the same one
    staggered = stagger && vis.unbanded();
    start = staggered ? (int)((int64_t)(n0 / BCK) * per_head / gridDim.x) : 0;
    next_start = staggered ? (int)((int64_t)(n0 / BCK + 1) * per_head / gridDim.x) : 0;
  }

  // No key of the tile is stored for this sequence (packed sequences shorter than the grid).
  __device__ __forceinline__ bool outside() const { return n0 >= seq.k_rows; }
  // ORDERED DQ, without a score bias: the key tile whose add into Q tile m comes right before this one's, or -1
  // where this one adds first. The adds follow the order in which the key tiles reach the Q tile:
  //  - from the start (not staggered): the last key tile first, each after the next one where that one sees the Q tile
  //    (the key tiles that see a Q tile are consecutive: the band's bounds grow with the key);
  //  - staggered (every key tile sees every Q tile): the a key tiles that start at or before m reach it first, from
  //    the (a-1)-th down to the first, then the others from the last down to the a-th; each after key tile
  //    (j + 1) mod n, except the (a-1)-th.
  __device__ __forceinline__ int dq_predecessor(int m, int BCK, int BR) const {
    const int j = n0 / BCK;
    if (staggered) {  // the (a-1)-th is the one whose walk starts at or before m, and the next one's after it
      const int i = m - m_begin;
      return start <= i && i < next_start ? -1 : (j + 1 == (int)gridDim.x ? 0 : j + 1);
    }
    const int n1 = n0 + BCK;
    if (n1 >= seq.k_rows) return -1;
    const TileRange r = vis.query_tiles(n1, BCK, BR);
    return r.begin <= m && m < r.end ? j + 1 : -1;
  }
  // whether local key row `key` of the sequence is stored (written) / takes part (read)
  __device__ __forceinline__ bool stored(int key) const { return key < seq.k_rows; }

  // work item it: query head (of the batch) and first row of its Q tile
  __device__ __forceinline__ int head(int hk, int it) const { return hk * group + it / per_head; }
  __device__ __forceinline__ int row0(int it, int BR) const {
    const int t = it % per_head + start;
    return (m_begin + (t < per_head ? t : t - per_head)) * BR;
  }
  // rows of query head hh of this sequence in a q-shaped view, and its LSE / delta offset
  template <typename U>
  __device__ __forceinline__ U* q_at(const StridedView<U>& t, int hh) const { return seq.q_at(t, hh); }
  __device__ __forceinline__ int64_t stats_row0(const FlashBwdParams& p, int hh) const {
    return seq.stats_row0(hh, p.heads_q, p.seqlen_q);
  }
};

// dK * scale and dV of a thread's keys key0 and key0 + 8 (of its sequence) over NCOLS columns from col0, in the
// m16n8 accumulator layout (register 4d + e: column col0 + 8d + 2 t4 + (e & 1) of key key0 + 8 (e >> 1)), written
// once at the end (zero for padding keys: no query saw them) by store_acc_row, in 16-byte chunks where the rows allow
template <typename TO, int NCOLS, typename KT>
__device__ __forceinline__ void store_dkdv(const FlashBwdParams& p, const KT& kt, int hk, const float* dk,
                                           const float* dv, int key0, int col0, int t4) {
  const StridedView<TO> dkv(p.dk), dvv(p.dv);
  TO* dkg = kt.seq.k_at(dkv, hk);
  TO* dvg = kt.seq.k_at(dvv, hk);
  const int hd = kt.hd;
  const bool k_chunks = rows_in_chunks(dkg, dkv.row, hd), v_chunks = rows_in_chunks(dvg, dvv.row, hd);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int key = key0 + 8 * r;
    const bool ok = kt.stored(key);
    store_acc_row<TO, NCOLS>(dkg + (int64_t)key * dkv.row, dk, r, p.scale, col0, hd, ok, k_chunks, t4);
    store_acc_row<TO, NCOLS>(dvg + (int64_t)key * dvv.row, dv, r, 1.f, col0, hd, ok, v_chunks, t4);
  }
}

template <typename T, bool BIAS = false> struct DqRowTile {
  Sequence seq;
  Visibility vis;
  Dropout drop;
  ScoreBias<BIAS> bias;
  int h, hk;  // query head, and the kv head it reads
  int m0;     // first query row
  TileRange kt;                       // the key tiles (of BC keys) a row of the tile sees
  Visibility::MaskedTiles masked;     // which of them need masking
  const T *q, *dout;  // row 0 of this sequence's query head h
  const T *k, *v;     // row 0 of this sequence's kv head hk
  int key0;           // the first key of the first tile in kt

  // longest_first: the CTAs with the longest rows start first where the band is bounded above (causal-like)
  __device__ __forceinline__ DqRowTile(const FlashBwdParams& p, int BR, int BC, bool longest_first)
      : seq(p, blockIdx.z),
        vis(p, seq),
        drop(p, blockIdx.z, blockIdx.y),
        bias(p, seq, blockIdx.y),
        h(blockIdx.y),
        hk(kv_head_of(p, blockIdx.y)),
        m0((longest_first && vis.upper_bounded() ? gridDim.x - 1 - blockIdx.x : blockIdx.x) * BR),
        kt(bias.keys(p, vis.key_tiles(m0, BR, BC), m0, BR, BC)),
        masked(vis.masked_key_tiles(m0, BR, BC)),
        q(seq.q_at(StridedView<const T>(p.q), h)),
        dout(seq.q_at(StridedView<const T>(p.dout), h)),
        k(seq.k_at(StridedView<const T>(p.k), hk)),
        v(seq.k_at(StridedView<const T>(p.v), hk)),
        key0(kt.begin * BC) {}

  // No query row of the tile is stored for this sequence (packed sequences shorter than the grid).
  __device__ __forceinline__ bool outside() const { return m0 >= seq.q_rows; }
  // the LSE (log2 domain) and delta of query row `row`; rows past Nq: LSE +inf (P = 0) and delta 0
  __device__ __forceinline__ void row_stats(const FlashBwdParams& p, int row, float& lse2, float& del) const {
    lse2 = INFINITY;
    del = 0.f;
    if (row < vis.Nq) {
      const int64_t idx = seq.stats_row0(h, p.heads_q, p.seqlen_q) + row;
      lse2 = lse_log2(p.lse[idx]);
      del = p.delta[idx];
    }
  }
  // dQ * scale of a thread's rows row0 and row0 + 8 over D columns, from the accumulator layout (register
  // 4d + e: row row0 + 8 (e >> 1), column 8d + 2 t4 + (e & 1)); written once, padding rows too (dQ = 0: P = 0)
  template <typename TO, int D>
  __device__ __forceinline__ void store_dq(const FlashBwdParams& p, const float* acc, int row0, int t4) const {
    TO* dqg = seq.q_at(StridedView<TO>(p.dq), h);
    const float scale = p.scale;
    const int hd = p.head_dim;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = row0 + 8 * r;
      if (row < seq.q_rows) {
#pragma unroll
        for (int d = 0; d < D / 8; ++d) {
          const int col = d * 8 + 2 * t4;
          if (col < hd)
            store_pair<TO>(dqg + (int64_t)row * p.dq.row_stride + col, acc[4 * d + 2 * r] * scale,
                           acc[4 * d + 2 * r + 1] * scale, col + 1 < hd);
        }
      }
    }
  }
};

}  // namespace fdjl
