// flash_fwd_sm90.cuh - FlashAttention-2 forward on Hopper warpgroup MMAs (sm_90a only).
//
// Same algorithm and contract as fwd_mma_kernel (flash_fwd.cuh), built for the tensor cores of the
// H100: a CTA of NWG warpgroups owns BR = 64 * NWG query rows (64 rows per warpgroup) of one
// (batch, head); K/V tiles of BC keys stream through NS shared-memory stages with cp.async.
// Per tile and warpgroup:
//   S[64 x BC] = Q K^T   wgmma, both operands read from shared memory (K-major)
//   online softmax on S in registers (exp2, running max and sum, rescale of O)
//   O[64 x D] += P V     wgmma, P from registers, V read transposed (MN-major) from shared memory
// Unlike mma.sync, the B operands never pass through registers, so the O accumulator, S and
// P of a 64-row slice fit without spills at D = 128 and BC = 128, and O alone (128 registers) at D = 256.
// Head dims that are not a multiple of 64 (96) keep their tiles in whole 64-column blocks, the rest
// zero-filled; the MMAs read D columns only. The tile sizes and schedule per D: flash_tiles.h.
// Two schedules:
//  - fwd_wgmma_lockstep_kernel: all threads load, __syncthreads per tile; the warpgroups run in
//    step, so both do their softmax while the tensor cores wait;
//  - fwd_wgmma_pingpong_kernel (ping_pong in flash_tiles.h, two or three warpgroups): mbarriers instead of
//    __syncthreads, and named barriers that hand the tensor cores from one warpgroup to the next: each issues
//    S_j = Q K_j^T together with O += P_{j-1} V_{j-1}, then does the softmax of S_j while the
//    other warpgroups' MMAs run (FlashAttention-3's inter-warpgroup "ping-pong"). One more warpgroup does every
//    copy and hands its registers to them (setmaxnreg), and the CTA is persistent: it takes row tiles from a
//    TileQueue, its producer copying the next tile's Q and first K/V while the current one finishes. Where the
//    launcher gave tensor maps (TMA LOADS, flash_params.h), one producer thread copies by TMA.
#pragma once
#include "flash_bias_stage.cuh"
#include "flash_fwd_tile.cuh"
#include "flash_tile_queue.cuh"
#include "flash_tiles.h"
#include "flash_tma.cuh"
#include "flash_wgmma.cuh"

namespace fdjl {

// ---- pieces shared by both schedules; a thread holds rows `row` and `row + 8` of its warpgroup's
// ---- 64-row slice, in the wgmma accumulator layout (flash_wgmma.cuh)

// The kernels without a bias: -inf where the row does not see the key, on tiles the band cuts (n0: the tile's first
// key; row: this thread's first row). This text, the band test through ScoreBias<false>, is what it was before the
// bias was staged: it compiles to the same machine code as then, and a form shared with the staged bias's did not
// (0.94-0.97x in the forward, PERF_LOG.md)
template <int BC>
__device__ __forceinline__ void wg_band(float* s, const FlashFwdParams& p, const Visibility& vis,
                                        const ScoreBias<false>& bias, int bst, int n0, int row, int t4) {
#pragma unroll
  for (int n = 0; n < BC / 8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int r = row + (e >> 1) * 8;
      const int col = n0 + n * 8 + 2 * t4 + (e & 1);
      s[4 * n + e] = ScoreBias<false>::shows(vis, r, col) ? bias.apply(p, s[4 * n + e], r, col, bst) : -INFINITY;
    }
}

// The _bias kernels: the score bias added where it is read, and -inf where the row does not see the key or the bias
// hides it; only on tiles that need it. n0: the tile's first key; row: this thread's first row in the sequence (g: in
// its warp); band_cut: the band hides some of the tile's scores (else none is tested); bst: the tile's bias state,
// whose partial tiles are read from buffer k of the warp's staged copy (BiasStage).
template <int BC, bool BIAS, typename Stage>
__device__ __forceinline__ void wg_mask(float* s, const FlashFwdParams& p, const Visibility& vis, const Stage& stage,
                                        int k, bool band_cut, int bst, int n0, int row, int g, int t4) {
  static_assert(BIAS, "the kernels without a bias take wg_band");
  if (bst == kTilePartial) {
    const float inv_scale = __fdividef(1.f, p.scale);  // the bias is added to the raw score: scale * s + bias
    switch (p.bias_kind) {
      case kBiasBool: stage.template add<kBiasBool, BC / 8>(s, k, g, t4, inv_scale); break;
      case kBiasF32: stage.template add<kBiasF32, BC / 8>(s, k, g, t4, inv_scale); break;
      case kBiasF16: stage.template add<kBiasF16, BC / 8>(s, k, g, t4, inv_scale); break;
      default: stage.template add<kBiasBf16, BC / 8>(s, k, g, t4, inv_scale); break;
    }
  }
  if (band_cut || bst == kTileHidden) {  // (rows past the sequence took garbage from the buffer: never stored)
    const bool hidden = bst == kTileHidden;
#pragma unroll
    for (int n = 0; n < BC / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = row + (e >> 1) * 8, col = n0 + n * 8 + 2 * t4 + (e & 1);
        s[4 * n + e] = !hidden && vis.shows(r, col) ? s[4 * n + e] : -INFINITY;
      }
  }
}

// The _bias kernels' walk of a row tile's key tiles j = 0, 1, ...: the bias states of tiles j .. j + NB (read
// ahead: a global load), and the staging of each partial tile NB tiles ahead of its softmax, in buffer j % NB.
template <int BC, int NB> struct BiasWalk {
  using Stage = BiasStage<BC, NB>;
  Stage& stage;    // the warp's buffers (their mbarrier phases last across the row tiles of a persistent CTA)
  int st[NB + 1];  // st[i]: the state of tile j + i
  template <typename Tile>
  __device__ __forceinline__ BiasWalk(Stage& s, const FlashFwdParams& p, const Tile& t, int BR,
                                      int nb, int n_tiles, int r0, int lane)
      : stage(s) {
#pragma unroll
    for (int i = 0; i <= NB; ++i) st[i] = i < n_tiles ? t.bias.state(p, t.m0, BR, nb + i * BC, BC) : kTileFull;
#pragma unroll
    for (int i = 0; i < NB; ++i)
      if (st[i] == kTilePartial) stage.fill(p, t.bias, i, r0, nb + i * BC, t.vis.Nq, t.vis.Nk, lane);
  }
  __device__ __forceinline__ int state() const { return st[0]; }
  __device__ __forceinline__ int buffer(int j) const { return NB > 1 ? (j & 1) : 0; }
  // before tile j's mask: its staged bias has landed
  __device__ __forceinline__ void ready(int j) {
    if (st[0] == kTilePartial) stage.wait(buffer(j));
  }
  // after tile j's mask (or in place of it): buffer j % NB takes tile j + NB, and the states move on by one
  template <typename Tile>
  __device__ __forceinline__ void next(const FlashFwdParams& p, const Tile& t, int BR, int nb, int j, int n_tiles,
                                       int r0, int lane) {
    if (st[NB] == kTilePartial) stage.fill(p, t.bias, buffer(j), r0, nb + (j + NB) * BC, t.vis.Nq, t.vis.Nk, lane);
#pragma unroll
    for (int i = 0; i < NB; ++i) st[i] = st[i + 1];
    st[NB] = j + NB + 1 < n_tiles ? t.bias.state(p, t.m0, BR, nb + (j + NB + 1) * BC, BC) : kTileFull;
  }
};
// Without a bias: every tile full, nothing staged (an empty walk, so that those kernels compile as they would
// without it)
template <int BC> struct BiasWalk<BC, 0> {
  struct Stage {
    __device__ __forceinline__ Stage(uint32_t, int, int) {}
    __device__ __forceinline__ static void init(uint32_t, int) {}
  };
  template <typename Tile>
  __device__ __forceinline__ BiasWalk(Stage&, const FlashFwdParams&, const Tile&, int, int, int, int, int) {}
  __device__ __forceinline__ static constexpr int state() { return kTileFull; }
  __device__ __forceinline__ static constexpr int buffer(int) { return 0; }
  __device__ __forceinline__ void ready(int) {}
  template <typename Tile>
  __device__ __forceinline__ void next(const FlashFwdParams&, const Tile&, int, int, int, int, int, int) {}
};

// online softmax of one tile of raw scores S: S <- P = 2^(S * sl2 - m_new), with the running
// max m (log2 domain) and sum l updated; alpha = 2^(m_old - m_new), the factor O must be
// rescaled by before P V is added. The scale is folded into one FFMA per score; it is > 0
// (the launcher's contract), so max(S) * sl2 = max(S * sl2). SKIP (FwdWgTile::skip_unmoved_rescale): alpha is 1
// without its exponent where the row's maximum did not move, which is what ex2(0) gives.
template <int BC, bool SKIP = false>
__device__ __forceinline__ void wg_online_softmax(float* s, float* mrow, float* lrow, float* alpha, float sl2) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float mx = -INFINITY;
#pragma unroll
    for (int n = 0; n < BC / 8; ++n) mx = fmaxf(mx, fmaxf(s[4 * n + 2 * r], s[4 * n + 2 * r + 1]));
    mx = quad_max(mx);
    const float mnew = fmaxf(mrow[r], mx * sl2);
    const float mu = (mnew == -INFINITY) ? 0.f : mnew;  // all masked so far: avoid inf - inf
    alpha[r] = SKIP && mnew == mrow[r] ? 1.f : ex2(mrow[r] - mu);
    mrow[r] = mnew;
    float sum = 0.f;
#pragma unroll
    for (int n = 0; n < BC / 8; ++n) {
      const float p0 = ex2(fmaf(s[4 * n + 2 * r], sl2, -mu)), p1 = ex2(fmaf(s[4 * n + 2 * r + 1], sl2, -mu));
      s[4 * n + 2 * r] = p0;
      s[4 * n + 2 * r + 1] = p1;
      sum += p0 + p1;
    }
    lrow[r] = lrow[r] * alpha[r] + sum;
  }
}

// O *= alpha per row; SKIP: not by a warp none of whose rows' maxima moved (every alpha exactly 1: the same O)
template <int D, bool SKIP = false>
__device__ __forceinline__ void wg_rescale_o(float* o, const float* alpha) {
  if constexpr (SKIP)
    if (!__any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) return;
#pragma unroll
  for (int d = 0; d < D / 8; ++d) {
    o[4 * d + 0] *= alpha[0];
    o[4 * d + 1] *= alpha[0];
    o[4 * d + 2] *= alpha[1];
    o[4 * d + 3] *= alpha[1];
  }
}

// Dropout of P after the row sums (the softmax is that of the undropped P), on P packed to 16 bits
// (the keep scale multiplies O in wg_write_o). The masks of a tile depend on nothing the tensor
// cores compute, so they are drawn between issuing S = Q K^T and waiting for it (wg_draw_masks),
// where the integer work hides behind the MMAs, and applied after the pack (wg_apply_masks).
// row: this thread's first row (t.m0 + wrow), n0: the tile's first key.
template <int BC>
__device__ __forceinline__ void wg_draw_masks(uint32_t (*dm)[2], const Dropout& drop, int row, int n0, int g, int t4) {
  drop.template for_masks<BC / 16>(row - g, n0, g, t4, [&](int kk, uint32_t m0, uint32_t m1) {
    dm[kk][0] = m0;
    dm[kk][1] = m1;
  });
#pragma unroll
  for (int kk = 0; kk < BC / 16; ++kk)  // computed here, before the wait, not sunk below it
    asm volatile("" : "+r"(dm[kk][0]), "+r"(dm[kk][1])::"memory");
}
template <int BC>
__device__ __forceinline__ void wg_apply_masks(uint32_t (*pa)[4], const uint32_t (*dm)[2]) {
#pragma unroll
  for (int kk = 0; kk < BC / 16; ++kk) Dropout::drop_packed(pa[kk], dm[kk][0], dm[kk][1]);
}

// P packed to T as the register A operand of P V (k16 step kk = keys 16kk .. 16kk+15)
template <typename T, int BC>
__device__ __forceinline__ void wg_pack_p(uint32_t (*pa)[4], const float* s) {
#pragma unroll
  for (int kk = 0; kk < BC / 16; ++kk)
#pragma unroll
    for (int i = 0; i < 4; ++i) pa[kk][i] = Mma<T>::pack(s[8 * kk + 2 * i], s[8 * kk + 2 * i + 1]);
}

template <typename T, int BR, int BC>
__device__ __forceinline__ void wg_issue_s(float* s, uint32_t sQw, uint32_t sK, int kc_steps) {
  const WgDesc q(sQw, 16, 1024), k(sK, 16, 1024);
#pragma unroll
  for (int kc = 0; kc < kc_steps; ++kc) {
    const uint32_t koff = (kc & 3) * 32;  // k16 step inside a 64-column block
    // the first k step overwrites S
    Wgmma<T, BC>::template ss<0, 0>(s, q.at((kc >> 2) * BR * 128 + koff), k.at((kc >> 2) * BC * 128 + koff), kc > 0);
  }
}

template <typename T, int D, int BC>
__device__ __forceinline__ void wg_issue_pv(float* o, const uint32_t (*pa)[4], uint32_t sV) {
  const WgDesc v(sV, BC * 128, 1024);  // V read transposed: its rows are the k dimension
#pragma unroll
  for (int kk = 0; kk < BC / 16; ++kk) Wgmma<T, D>::template rs<1>(o, pa[kk], v.at(kk * 2048), 1);
}

// normalise, write O (store_acc_row: 16-byte chunks where the rows allow) and the LSE (natural log)
template <typename T, typename TO, int D, bool BIAS>
__device__ __forceinline__ void wg_write_o(const FwdTile<T, TO, BIAS>& t, int64_t o_row_stride, const float* o,
                                           const float* mrow, const float* lrow, int row0, int t4) {
  const bool chunks = rows_in_chunks(t.o, o_row_stride, t.hd);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float l = quad_sum(lrow[r]);
    const float inv = l > 0.f ? (t.drop.on() ? t.drop.scale : 1.f) / l : 0.f;  // dropout: the keep scale
    const int row = row0 + 8 * r;
    const bool ok = row < t.vis.Nq;
    store_acc_row<TO, D>(t.o + (int64_t)row * o_row_stride, o, r, inv, 0, t.hd, ok, chunks, t4);
    if (ok && t4 == 0) t.lse[row] = l > 0.f ? (mrow[r] + __log2f(l)) * kLn2 : -INFINITY;
  }
}

template <typename T, typename TO, int D, bool BIAS, bool LONG_KEYS>
__device__ __forceinline__ void fwd_wgmma_lockstep_kernel(const FlashFwdParams& p) {
#if FDJL_WGMMA
  using S_ = FwdWgShape<D, LONG_KEYS, BIAS>;
  constexpr int BC = S_::BC, BR = S_::BR, NT = S_::THREADS, NS = S_::NS;
  constexpr int SR = BC / 2, OR = D / 2;  // accumulator registers of S and O per thread

  extern __shared__ __align__(128) unsigned char smem[];  // 1 KiB alignment is done by hand
  const int tid = threadIdx.x, wg = warpgroup_index(), warp = (tid >> 5) & 3, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const FwdTile<T, TO, BIAS> t(p, BR, /*longest_first=*/true);  // causal-like: the longest row tiles first
  const TileRange kt = t.template start<D, BR, NT>(p, BC, tid);
  const int n_tiles = kt.size();
  if (n_tiles == 0) return;
  const Visibility::MaskedTiles masked = t.vis.masked_key_tiles(t.m0, BR, BC);

  const uint32_t sQ = (smem_u32(smem) + 1023u) & ~1023u;
  const uint32_t sK0 = sQ + S_::Q_BYTES;
  const uint32_t sV0 = sK0 + NS * S_::KV_BYTES;
  const uint32_t sBias = sV0 + NS * S_::KV_BYTES;  // _bias kernels: the staging buffers of every warp
  using Walk = BiasWalk<BC, S_::NB>;
  if constexpr (BIAS) {
    if (tid == 0) Walk::Stage::init(sBias, NT / 32);
    __syncthreads();
  }
  const SwTileCopier<S_::DS, BC, NT> kv_copier(tid, t.hd);
  const int nb = kt.begin * BC;  // first key of the first tile
  auto load_kv = [&](int j, int stage) {  // the j-th tile of the range
    const int nn = nb + j * BC;
    kv_copier.copy(sK0 + stage * S_::KV_BYTES, t.k, p.k.row_stride, nn, t.vis.Nk - nn);
    kv_copier.copy(sV0 + stage * S_::KV_BYTES, t.v, p.v.row_stride, nn, t.vis.Nk - nn);
  };

  // a ring of NS >= 3 stages, tiles j+1 .. j+NS-1 in flight while tile j is used; one cp.async
  // group per tile (empty past the last tile, so that the group count stays uniform), Q with tile 0
  SwTileCopier<S_::DS, BR, NT>(tid, t.hd).copy(sQ, t.q, p.q.row_stride, t.m0, t.vis.Nq - t.m0);
#pragma unroll
  for (int i = 0; i < NS - 1; ++i) {
    if (i < n_tiles) load_kv(i, i);
    cp_async_commit();
  }

  float o[OR];
#pragma unroll
  for (int i = 0; i < OR; ++i) o[i] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f}, alpha[2];
  const int wrow = wg * 64 + warp * 16 + g;  // this thread's rows in the tile: wrow, wrow + 8
  const int r0 = t.m0 + wrow - g;            // the warp's first row in the sequence
  typename Walk::Stage stage(sBias, NT / 32, tid >> 5);
  Walk bias(stage, p, t, BR, nb, n_tiles, r0, lane);
  const uint32_t sQw = sQ + wg * 64 * 128;   // this warpgroup's 64 rows of every Q column block

  // (Measured: overlapping the softmax of tile j+1 with P_j V_j inside a warpgroup, as
  // FlashAttention-3 does, was 8-20% SLOWER here than this plain loop; see PERF_LOG.md.)
  int st = 0;  // stage of tile j
  // without a bias (the walk's, with one): the state of tile j + 1 is read during tile j, off the critical path
  int bst_next = t.bias.state(p, t.m0, BR, nb, BC);
  for (int j = 0; j < n_tiles; ++j) {
    cp_async_wait<NS - 2>();  // tile j has landed (this thread's copies)
    fence_proxy_async();      // ... and is visible to the async (wgmma) proxy
    __syncthreads();          // everyone's copies landed; everyone is done with tile j-1,
    const int jn = j + NS - 1;  // so tile j-1's stage takes tile j+NS-1: one barrier per tile
    if (jn < n_tiles) load_kv(jn, st == 0 ? NS - 1 : st - 1);
    cp_async_commit();
    const uint32_t sK = sK0 + st * S_::KV_BYTES;
    const uint32_t sV = sV0 + st * S_::KV_BYTES;
    st = (st + 1 == NS) ? 0 : st + 1;

    float s[SR];
    const int n0 = nb + j * BC;
    const int bst = BIAS ? bias.state() : bst_next;
    if (!BIAS && j + 1 < n_tiles) bst_next = t.bias.state(p, t.m0, BR, n0 + BC, BC);
    if (bst == kTileHidden) {  // hidden by the bias: adds nothing (its copies stay in the ring)
      if constexpr (BIAS) bias.next(p, t, BR, nb, j, n_tiles, r0, lane);
      continue;
    }
    wg_fence();
    wg_issue_s<T, BR, BC>(s, sQw, sK, D / 16);
    wg_commit();
    uint32_t dm[BC / 16][2];
    if (t.drop.on()) wg_draw_masks<BC>(dm, t.drop, t.m0 + wrow, n0, g, t4);
    wg_wait<0>();
    wg_pin<SR>(s);

    if constexpr (!BIAS) {
      if (masked(n0) || bst != kTileFull) wg_band<BC>(s, p, t.vis, t.bias, bst, n0, t.m0 + wrow, t4);
    } else {
      if (masked(n0) || bst != kTileFull) {
        bias.ready(j);
        wg_mask<BC, BIAS>(s, p, t.vis, stage, bias.buffer(j), masked(n0), bst, n0, t.m0 + wrow, g, t4);
      }
      bias.next(p, t, BR, nb, j, n_tiles, r0, lane);
    }
    wg_online_softmax<BC, S_::SKIP_RESCALE>(s, mrow, lrow, alpha, p.scale_log2);
    wg_rescale_o<D, S_::SKIP_RESCALE>(o, alpha);
    uint32_t pa[BC / 16][4];
    wg_pack_p<T, BC>(pa, s);
    if (t.drop.on()) wg_apply_masks<BC>(pa, dm);

    wg_pin<OR>(o);
    wg_fence();
    wg_issue_pv<T, D, BC>(o, pa, sV);
    wg_commit();
    wg_wait<0>();
    wg_pin<OR>(o);
  }
  wg_write_o<T, TO, D, BIAS>(t, p.o.row_stride, o, mrow, lrow, t.m0 + wrow, t4);
#endif
}

template <typename T, typename TO, int D, bool BIAS, bool LONG_KEYS>
__device__ __forceinline__ void fwd_wgmma_pingpong_kernel(const FlashFwdParams& p) {
#if FDJL_WGMMA
  using S_ = FwdWgShape<D, LONG_KEYS, BIAS>;
  constexpr int BC = S_::BC, BR = S_::BR, NS = S_::NS, NP = S_::PRODUCERS, NC = S_::CONSUMERS;
  constexpr int SR = BC / 2, OR = D / 2;  // accumulator registers of S and O per thread
  static_assert(NP > 0 && S_::PERSISTENT, "a producer warpgroup does every copy; the CTA takes tiles from a queue");

  extern __shared__ __align__(128) unsigned char smem[];  // 1 KiB alignment is done by hand
  const int tid = threadIdx.x, wg = warpgroup_index(), warp = (tid >> 5) & 3, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;

  const uint32_t sQ = (smem_u32(smem) + 1023u) & ~1023u;
  const uint32_t sK0 = sQ + S_::Q_BYTES;
  const uint32_t sV0 = sK0 + NS * S_::KV_BYTES;
  const uint32_t sBias = sV0 + NS * S_::KV_BYTES;  // _bias kernels: the computing warps' staging buffers
  using Walk = BiasWalk<BC, S_::NB>;
  // full_k[s] / full_v[s]: the copies of K / V into stage s landed (one cp.async arrival per copying thread; a row
  // tile's Q lands with its first K tile); empty_k[s] / empty_v[s]: every computing warp is done reading K / V of
  // stage s (one arrival per warp); q_free (persistent): every computing warp's last S of a row tile is done, Q may
  // be overwritten. With SPLIT_KV, K and V are rings of their own, so that a stage of K is free for the next copy
  // once the S products that read it are done, before the P V products of the same key tile; otherwise one mbarrier
  // pair serves both (full_v = full_k, empty_v = empty_k), and the calls that only the split rings need are skipped.
  constexpr bool SPLIT = S_::SPLIT_KV;
  const uint32_t bars = sBias + S_::BIAS_BYTES;
  auto full_k = [&](int s) { return bars + 8 * s; };
  auto full_v = [&](int s) { return SPLIT ? bars + 8 * (NS + s) : full_k(s); };
  auto empty_k = [&](int s) { return bars + 8 * ((SPLIT ? 2 : 1) * NS + s); };
  auto empty_v = [&](int s) { return SPLIT ? bars + 8 * (3 * NS + s) : empty_k(s); };
  const uint32_t q_free = bars + (SPLIT ? 32 : 16) * NS;
  // the CTA's row tiles (indices of row_tile_coord): its block's, then those
  // a TileQueue hands out; queue.take(k) is the k-th (>= total: no more), every thread asking for k = 0, 1, ... in turn
  const TileQueue queue{q_free + 8};
  const int total = p.row_tiles * p.heads_q * p.batch;
  const int own_tile = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  // TMA LOADS (flash_params.h): the producer's thread 0 copies every tile through the launcher's tensor maps, and a
  // full mbarrier completes on its one arrival and the bytes it expects; else every producer thread copies and arrives
  const bool tma = S_::TMA && p.tma_loads != 0;  // constant false where the head dim copies without TMA
  const int fills = tma ? 1 : NP;
  if (tid == 0) {
#pragma unroll
    for (int s = 0; s < NS; ++s) {
      mbar_init(full_k(s), fills);
      mbar_init(empty_k(s), NC / 32);
      if constexpr (SPLIT) {
        mbar_init(full_v(s), fills);
        mbar_init(empty_v(s), NC / 32);
      }
    }
    mbar_init(q_free, NC / 32);
    queue.init((NP + NC) / 32);  // every warp reads every slot
    if constexpr (BIAS) Walk::Stage::init(sBias, NC / 32);
  }
  __syncthreads();

  // K/V tiles pass through the rings in the order the CTA uses them, across its row tiles: the c-th goes to stage
  // c % NS once every computing warp has released tile c - NS (of that ring); the producer copies a tile as soon as
  // its stage is free.
  // copies K (or V) of the jt-th key tile of t's range (first key nb) as the CTA's c-th; the caller signals full
  auto copy_kv = [&](const FwdTile<T, TO, BIAS>& t, const SwTileCopier<S_::DS, BC, NP>& kv_copier, int nb, int jt,
                     int c, bool values) {
    const int stg = c % NS;
    if (c >= NS && (SPLIT || !values)) mbar_wait(values ? empty_v(stg) : empty_k(stg), (c / NS - 1) & 1);
    const int nn = nb + jt * BC;
    kv_copier.copy((values ? sV0 : sK0) + stg * S_::KV_BYTES, values ? t.v : t.k,
                   values ? p.v.row_stride : p.k.row_stride, nn, t.vis.Nk - nn);
  };

  // the same by TMA, by one thread: K and V of the jt-th key tile of t's range as the CTA's c-th, with Q when
  // jt == 0; `rows`: the row tiles copied before. The maps are 4-D: a head dim of whole 64-column blocks, which would
  // have 5-D ones (tma_whole_block_map), always has a kernel of its own, and this one's tiles are not 64-row tiles
  static_assert(!S_::TMA || D % kTmaTile != 0, "TMA forwards: head dims whose maps are 4-D");
  auto tma_kv = [&](const FwdTile<T, TO, BIAS>& t, int nb, int jt, int c, int rows) {
    if constexpr (S_::TMA) {  // (not instantiated where the tiles are not whole boxes)
      constexpr uint32_t KV = tma_tile_bytes<BC, S_::DS>(), Q = tma_tile_bytes<BR, S_::DS>();
      const int stg = c % NS, nn = nb + jt * BC;
      if (c >= NS) mbar_wait(empty_k(stg), (c / NS - 1) & 1);
      mbar_arrive_expect_tx(full_k(stg), (SPLIT ? KV : 2 * KV) + (jt == 0 ? Q : 0));
      tma_load_tile<BC, S_::DS>(sK0 + stg * S_::KV_BYTES, &p.k_map, nn, t.kv_head, t.batch, full_k(stg), false);
      if (jt == 0) {
        if (rows > 0) mbar_wait(q_free, (rows - 1) & 1);  // the last row tile's S products are done
        tma_load_tile<BR, S_::DS>(sQ, &p.q_map, t.m0, t.head, t.batch, full_k(stg), false);
      }
      if constexpr (SPLIT) {
        if (c >= NS) mbar_wait(empty_v(stg), (c / NS - 1) & 1);
        mbar_arrive_expect_tx(full_v(stg), KV);
      }
      tma_load_tile<BC, S_::DS>(sV0 + stg * S_::KV_BYTES, &p.v_map, nn, t.kv_head, t.batch, full_v(stg), false);
    }
  };

  // the producer's walk over the CTA's row tiles: copy_row_tile(t, nb, n_tiles, ring, rows) copies the row tile's
  // Q and its n_tiles K/V tiles from key nb on, the first as the CTA's ring-th, after `rows` row tiles. One walk per
  // way of copying, so that each is allocated in the producer's registers on its own.
  auto produce = [&](auto&& copy_row_tile) {
    int ring = 0, rows = 0;  // K/V tiles and row tiles copied so far
    int next = own_tile;     // thread 0: the tile to publish next
    for (int k = 0;; ++k) {
      if (tid == 0) queue.publish(k, next);
      const int tile = queue.take(k);
      if (tile >= total) break;
      if (tid == 0) next = TileQueue::grab();  // its latency passes under this tile's copies
      const FwdTile<T, TO, BIAS> t(p, row_tile_coord(p, tile), BR, /*longest_first=*/true);
      if (t.outside()) continue;
      const TileRange kt = t.key_tiles(p, BR, BC);
      const int n_tiles = kt.size(), nb = kt.begin * BC;
      if (n_tiles == 0) continue;
      copy_row_tile(t, nb, n_tiles, ring, rows);
      ring += n_tiles;
      ++rows;
    }
  };

  if (wg == 0) {  // ---- the producer warpgroup: per row tile, K/V tile 0 and Q, then every other K/V tile
    wg_regs_dec<S_::PRODUCER_REGS>();
    if (tma) {
      produce([&](const FwdTile<T, TO, BIAS>& t, int nb, int n_tiles, int ring, int rows) {
        if (tid < 32) {  // warp 0; its other lanes wait at the __syncwarp, not polling the next take() beside it
          if (tid == 0)
            for (int jt = 0; jt < n_tiles; ++jt) tma_kv(t, nb, jt, ring + jt, rows);
          __syncwarp();
        }
      });
    } else {
      produce([&](const FwdTile<T, TO, BIAS>& t, int nb, int n_tiles, int ring, int rows) {
        const SwTileCopier<S_::DS, BC, NP> kv_copier(tid, t.hd);
        copy_kv(t, kv_copier, nb, 0, ring, false);
        if (rows > 0) mbar_wait(q_free, (rows - 1) & 1);  // the last row tile's S products are done
        SwTileCopier<S_::DS, BR, NP>(tid, t.hd).copy(sQ, t.q, p.q.row_stride, t.m0, t.vis.Nq - t.m0);
        if constexpr (SPLIT) cp_async_mbar_arrive(full_k(ring % NS));
        copy_kv(t, kv_copier, nb, 0, ring, true);
        cp_async_mbar_arrive(full_v(ring % NS));
        for (int jt = 1; jt < n_tiles; ++jt) {
          copy_kv(t, kv_copier, nb, jt, ring + jt, false);
          if constexpr (SPLIT) cp_async_mbar_arrive(full_k((ring + jt) % NS));
          copy_kv(t, kv_copier, nb, jt, ring + jt, true);
          cp_async_mbar_arrive(full_v((ring + jt) % NS));
        }
      });
    }
    if (tid == 0) TileQueue::finish();
    cp_async_wait<0>();  // no copy of this thread is in flight when it exits
    return;
  }
  wg_regs_inc<S_::CONSUMER_REGS>();

  // ---- the computing warpgroups
  constexpr int NWG = S_::NWG;
  const int cw = wg - 1;
  const int ctid = tid - NP;                 // this thread's index among the computing ones
  const int wrow = cw * 64 + warp * 16 + g;  // this thread's rows in the tile: wrow, wrow + 8
  const uint32_t sQw = sQ + cw * 64 * 128;   // this warpgroup's 64 rows of every Q column block
  // Turn-taking on the tensor cores, in a ring: named barrier 1 + w opens when warpgroup w - 1 (mod NWG) has
  // issued its MMAs; each sync is matched by exactly one arrive (per row tile). Warpgroup 0 goes first. A turn's
  // barrier counts the two warpgroups that meet at it (TURN threads), whatever NWG is.
  constexpr int TURN = 256;
  const int my_turn = 1 + cw, other_turn = 1 + (cw + 1) % NWG;
  typename Walk::Stage bstage(sBias, NC / 32, ctid >> 5);  // this warp's bias buffers (_bias kernels)
  int ring = 0;  // K/V tiles used in the CTA's earlier row tiles
  for (int k = 0;; ++k) {
    const int tile = queue.take(k);
    if (tile >= total) break;
    const FwdTile<T, TO, BIAS> t(p, row_tile_coord(p, tile), BR, /*longest_first=*/true);  // causal-like: longest first
    const TileRange kt = t.template start<D, BR, NC>(p, BC, ctid);
    const int n_tiles = kt.size();
    if (n_tiles == 0) continue;
    const Visibility::MaskedTiles masked = t.vis.masked_key_tiles(t.m0, BR, BC);
    const int nb = kt.begin * BC;  // first key of the first tile; tile j below is the j-th of the range
    const int r0 = t.m0 + wrow - g;  // the warp's first row in the sequence
    Walk bias(bstage, p, t, BR, nb, n_tiles, r0, lane);  // _bias kernels: stages the first partial tiles' bias
    auto stage = [&](int j) { return (ring + j) % NS; };
    // The key tiles this warpgroup's 64 rows see: the first nw of the CTA's range (its rows end before the last
    // rows' band does; without a bias, whose tiles are walked as one). It takes its turns on the others without
    // issuing anything, so that every warpgroup takes n_tiles + 1 turns.
    const int nw = BIAS ? n_tiles
                        : max(1, min(n_tiles, t.vis.key_tiles(t.m0 + cw * 64, 64, BC).end - kt.begin));

    auto wait_k = [&](int j) {  // K of the row tile's j-th key tile has landed
      mbar_wait(full_k(stage(j)), ((ring + j) / NS) & 1);
      fence_proxy_async();  // the landed copies (generic proxy) -> read by wgmma (async proxy)
    };
    auto wait_v = [&](int j) {  // ... and V (without SPLIT it landed with K)
      if constexpr (SPLIT) {
        mbar_wait(full_v(stage(j)), ((ring + j) / NS) & 1);
        fence_proxy_async();
      }
    };
    auto release_k = [&](int sk) {  // this warp's S of the key tile in stage sk is done (SPLIT: K may be refilled)
      if constexpr (SPLIT)
        if (lane == 0) mbar_arrive(empty_k(sk));
    };
    auto release_q = [&]() {  // this warp's last S of the row tile is done: the producer may copy the next Q
      if (lane == 0) mbar_arrive(q_free);
    };

    float o[OR], s[SR];
#pragma unroll
    for (int i = 0; i < OR; ++i) o[i] = 0.f;
    float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f}, alpha[2];
    uint32_t pa[BC / 16][4];
    if (cw == NWG - 1) named_arrive<TURN>(1);

    // tile 0: S only
    wait_k(0);
    named_sync<TURN>(my_turn);
    wg_fence();
    wg_issue_s<T, BR, BC>(s, sQw, sK0 + stage(0) * S_::KV_BYTES, D / 16);
    wg_commit();
    named_arrive<TURN>(other_turn);
    uint32_t dm[BC / 16][2];
    if (t.drop.on()) wg_draw_masks<BC>(dm, t.drop, t.m0 + wrow, nb, g, t4);
    wg_wait<0>();
    wg_pin<SR>(s);
    release_k(stage(0));
    if (nw == 1) release_q();
    // never hidden: key_tiles starts past them
    const int bst0 = BIAS ? bias.state() : t.bias.state(p, t.m0, BR, nb, BC);
    if constexpr (!BIAS) {
      if (masked(nb) || bst0 != kTileFull) wg_band<BC>(s, p, t.vis, t.bias, bst0, nb, t.m0 + wrow, t4);
    } else {
      if (masked(nb) || bst0 != kTileFull) {
        bias.ready(0);
        wg_mask<BC, BIAS>(s, p, t.vis, bstage, bias.buffer(0), masked(nb), bst0, nb, t.m0 + wrow, g, t4);
      }
      bias.next(p, t, BR, nb, 0, n_tiles, r0, lane);
    }
    // without a bias: the state of tile j is read in iteration j - 1 (a global load, off the critical path)
    int bst_next = !BIAS && nw > 1 ? t.bias.state(p, t.m0, BR, nb + BC, BC) : kTileFull;
    wg_online_softmax<BC>(s, mrow, lrow, alpha, p.scale_log2);  // O is still 0: nothing to rescale
    wg_pack_p<T, BC>(pa, s);
    if (t.drop.on()) wg_apply_masks<BC>(pa, dm);

    for (int j = 1; j < nw; ++j) {
      const int sj = stage(j), sp = stage(j - 1);  // stages of tiles j and j - 1
      wait_k(j);
      wait_v(j - 1);
      named_sync<TURN>(my_turn);
      wg_fence();
      wg_issue_s<T, BR, BC>(s, sQw, sK0 + sj * S_::KV_BYTES, D / 16);
      wg_commit();
      wg_issue_pv<T, D, BC>(o, pa, sV0 + sp * S_::KV_BYTES);
      wg_commit();
      named_arrive<TURN>(other_turn);
      const int n0 = nb + j * BC;
      const int bst = BIAS ? bias.state() : bst_next;
      if (!BIAS && j + 1 < nw) bst_next = t.bias.state(p, t.m0, BR, n0 + BC, BC);
      if (t.drop.on()) wg_draw_masks<BC>(dm, t.drop, t.m0 + wrow, n0, g, t4);  // while S_j runs
      wg_wait<1>();  // S_j done; P_{j-1} V_{j-1} may still run
      wg_pin<SR>(s);
      release_k(sj);
      if (j == nw - 1) release_q();
      // (the ping-pong turns leave no room to skip a tile the bias hides: its scores become -inf)
      if constexpr (!BIAS) {
        if (masked(n0) || bst != kTileFull) wg_band<BC>(s, p, t.vis, t.bias, bst, n0, t.m0 + wrow, t4);
      } else {
        if (masked(n0) || bst != kTileFull) {
          bias.ready(j);
          wg_mask<BC, BIAS>(s, p, t.vis, bstage, bias.buffer(j), masked(n0), bst, n0, t.m0 + wrow, g, t4);
        }
        bias.next(p, t, BR, nb, j, n_tiles, r0, lane);
      }
      wg_online_softmax<BC, S_::SKIP_RESCALE>(s, mrow, lrow, alpha, p.scale_log2);
      wg_wait<0>();  // P_{j-1} V_{j-1} done: O may be rescaled, P_j may overwrite P_{j-1}
      wg_pin<OR>(o);
      if (lane == 0) mbar_arrive(empty_v(sp));
      wg_rescale_o<D, S_::SKIP_RESCALE>(o, alpha);
      wg_pack_p<T, BC>(pa, s);
      if (t.drop.on()) wg_apply_masks<BC>(pa, dm);
    }

    // turn nw: the last P V; then turns nw + 1 .. n_tiles on the tiles this warpgroup's rows do not see. Every turn
    // but the last warpgroup's last (turn n_tiles) hands over: that arrive would have no matching sync
    auto hand_over = [&](int turn) {
      if (turn < n_tiles || cw != NWG - 1) named_arrive<TURN>(other_turn);
    };
    wait_v(nw - 1);
    named_sync<TURN>(my_turn);
    wg_fence();
    wg_issue_pv<T, D, BC>(o, pa, sV0 + stage(nw - 1) * S_::KV_BYTES);
    wg_commit();
    hand_over(nw);
    wg_wait<0>();
    wg_pin<OR>(o);
    if (lane == 0) mbar_arrive(empty_v(stage(nw - 1)));  // the next row tile's copies may take it
    wg_write_o<T, TO, D, BIAS>(t, p.o.row_stride, o, mrow, lrow, t.m0 + wrow, t4);
    for (int j = nw; j < n_tiles; ++j) {
      // tile j's stages are released once they have landed, so that the arrival counts toward this round
      wait_k(j);
      release_k(stage(j));
      wait_v(j);
      if (lane == 0) mbar_arrive(empty_v(stage(j)));
      named_sync<TURN>(my_turn);
      hand_over(j + 1);
    }
    ring += n_tiles;
  }
#endif
}

}  // namespace fdjl
