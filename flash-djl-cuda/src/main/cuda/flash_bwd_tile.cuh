// flash_bwd_tile.cuh - what both dK/dV kernels (mma.sync and wgmma) know about their CTA's tile
// of keys: the sequence, the K/V pointers, the visibility band and the (GQA query head, Q tile)
// work items that can see those keys (Q tiles that see none of them, by the band or the score bias,
// are skipped).
#pragma once
#include "flash_bias.cuh"
#include "flash_common.cuh"
#include "flash_dropout.cuh"

namespace fdjl {

template <typename T, bool BIAS = false> struct BwdKeyTile {
  Sequence seq;
  const T *k, *v;  // row 0 of this sequence's (batch, kv head)
  int hd, n0, group;
  Visibility vis;  // vis.Nk: keys taking part, the bound of every read
  Dropout drop0;   // of this sequence and query head 0 (plus_heads(hh) for query head hh)
  int m_begin;     // first Q tile (of BR rows) that can see a key of this tile
  int per_head;    // Q tiles per query head from m_begin on
  int total;       // work items: per_head for each of the group's query heads

  __device__ __forceinline__ BwdKeyTile(const FlashBwdParams& p, int BCK, int BR)
      : seq(p, blockIdx.z), vis(p, seq), drop0(p, blockIdx.z, 0) {
    const int hk = blockIdx.y;
    group = p.heads_q / p.heads_kv;
    hd = p.head_dim;
    n0 = blockIdx.x * BCK;
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
  }

  // No key of the tile is stored for this sequence (packed sequences shorter than the grid).
  __device__ __forceinline__ bool outside() const { return n0 >= seq.k_rows; }
  // whether local key row `key` of the sequence is stored (written) / takes part (read)
  __device__ __forceinline__ bool stored(int key) const { return key < seq.k_rows; }

  // work item it: query head (of the batch) and first row of its Q tile
  __device__ __forceinline__ int head(int hk, int it) const { return hk * group + it / per_head; }
  __device__ __forceinline__ int row0(int it, int BR) const { return (m_begin + it % per_head) * BR; }
  // rows of query head hh of this sequence in a q-shaped view, and its LSE / delta offset
  template <typename U>
  __device__ __forceinline__ U* q_at(const StridedView<U>& t, int hh) const { return seq.q_at(t, hh); }
  __device__ __forceinline__ int64_t stats_row0(const FlashBwdParams& p, int hh) const {
    return seq.stats_row0(hh, p.heads_q, p.seqlen_q);
  }
};

}  // namespace fdjl
