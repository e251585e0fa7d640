// flash_fwd_tile.cuh - what every forward kernel (mma.sync and wgmma) knows about its CTA's tile
// of query rows: the sequence and (head) pointers, the visibility band and score bias, the range of
// K/V tiles it must visit (tiles no row of it sees are skipped) and the output of rows that see no key.
#pragma once
#include "flash_bias.cuh"
#include "flash_common.cuh"
#include "flash_dropout.cuh"

namespace fdjl {

// A row tile's place in the grid: row tile x of nx, query head, sequence.
struct RowTileCoord {
  int x, nx, head, seq;
};

// Tile i of the grid p.row_tiles x heads_q x batch, row tiles fastest: the launched grid's order (as
// x + X * (y + Y * z)), so that the CTAs running at once read the K/V of one or two heads (L2 hits; every head's row
// tile at once measured 0.88-0.93x at d = 128, 1k-16k: PERF_LOG.md). Within a head, FwdTile's longest_first puts the
// rows that see the most keys first.
__device__ __forceinline__ RowTileCoord row_tile_coord(const FlashFwdParams& p, int i) {
  const int r = i / p.row_tiles;
  return RowTileCoord{i % p.row_tiles, p.row_tiles, r % p.heads_q, r / p.heads_q};
}

template <typename T, typename TO = T, bool BIAS = false> struct FwdTile {
  const T *q, *k, *v;  // row 0 of this sequence's (batch, head) / (batch, kv head)
  TO* o;               // the output, in the data type (flash_common.cuh: element I/O)
  float* lse;          // this sequence's (batch, head) LSE row
  int hd, m0;
  int batch, head, kv_head;  // the tile's batch row, query head and K/V head in the tensors (copies by tensor map)
  int q_rows;          // rows stored for the sequence: the bound of every write
  Visibility vis;      // vis.Nq: rows taking part, the bound of every read
  Dropout drop;        // of this sequence and query head
  ScoreBias<BIAS> bias;  // of this sequence and query head

  // Row tile c.x of sequence c.seq (blockIdx.x of blockIdx.z by default); with longest_first and a band whose upper
  // edge hides keys (causal-like), the row tiles are walked backwards: the last ones see the most keys and start
  // first, so that the tail of the launch is short.
  __device__ __forceinline__ FwdTile(const FlashFwdParams& p, int BR, bool longest_first)
      : FwdTile(p, RowTileCoord{(int)blockIdx.x, (int)gridDim.x, (int)blockIdx.y, (int)blockIdx.z}, BR, longest_first) {}

  __device__ __forceinline__ FwdTile(const FlashFwdParams& p, const RowTileCoord& c, int BR, bool longest_first)
      : FwdTile(p, Sequence(p, c.seq), c, BR, longest_first) {}

  __device__ __forceinline__ FwdTile(const FlashFwdParams& p, const Sequence& s, const RowTileCoord& c, int BR,
                                     bool longest_first)
      : vis(p, s), drop(p, c.seq, c.head), bias(p, s, c.head) {
    const int h = c.head;
    const int hk = kv_head_of(p, h);
    batch = s.batch;
    head = h;
    kv_head = hk;
    hd = p.head_dim;
    m0 = (longest_first && vis.upper_bounded() ? c.nx - 1 - c.x : c.x) * BR;
    q_rows = s.q_rows;
    q = s.q_at(StridedView<const T>(p.q), h);
    k = s.k_at(StridedView<const T>(p.k), hk);
    v = s.k_at(StridedView<const T>(p.v), hk);
    o = s.q_at(StridedView<TO>(p.o), h);
    lse = p.lse + s.stats_row0(h, p.heads_q, p.seqlen_q);
  }

  // No row of the tile is stored for this sequence (packed sequences shorter than the grid).
  __device__ __forceinline__ bool outside() const { return m0 >= q_rows; }

  // K/V tiles of BC keys that rows m0 .. m0+BR-1 need (neither the band nor the bias hides all of
  // the first and the last)
  __device__ __forceinline__ TileRange key_tiles(const FlashFwdParams& p, int BR, int BC) const {
    return bias.keys(p, vis.key_tiles(m0, BR, BC), m0, BR, BC);
  }

  // The key tiles the wgmma kernels visit for this tile, after writing the output of its stored rows that see no
  // key: all of them when no key tile is needed, else its padding rows. An empty range leaves nothing to do.
  template <int D, int BR, int NT>
  __device__ __forceinline__ TileRange start(const FlashFwdParams& p, int BC, int tid) const {
    if (outside()) return TileRange{0, 0};
    const TileRange kt = key_tiles(p, BR, BC);
    write_empty<D, BR, NT>(p.o.row_stride, tid, kt.size() == 0 ? m0 : vis.Nq);
    return kt;
  }

  // The tile's stored rows from `first` on see no key: O = 0, LSE = -inf (what the online softmax
  // would give). first = m0: the whole tile; first = vis.Nq: its padding rows.
  template <int D, int BR, int NT>
  __device__ __forceinline__ void write_empty(int64_t o_row_stride, int tid, int first) const {
    constexpr int ND = D / 8;
    const int r0 = max(first, m0) - m0, r1 = min(m0 + BR, q_rows) - m0;
    if (r0 >= r1) return;
    const float zero[8] = {};
    for (int i = r0 * ND + tid; i < r1 * ND; i += NT) {
      const int r = i / ND, c = i % ND;
      if (c * 8 < hd) store_chunk<TO>(o + (int64_t)(m0 + r) * o_row_stride + c * 8, zero, hd - c * 8);
    }
    for (int r = r0 + tid; r < r1; r += NT) lse[m0 + r] = -INFINITY;
  }
};

}  // namespace fdjl
