// flash_tiles.h - every tile size, launch shape and kernel choice of the flash-djl kernels, per
// head dim and device pass, in one place (the kernels and flash_kernels.cu only read it).
//
// Device passes (build-fatbin.sh): the sm_80-class pass (sm_80/86/89 SASS and the compute_80
// PTX) and the sm_90a pass (FDJL_SM90 and FDJL_WGMMA, flash_common.cuh). Each settings function
// below takes the head dim D and returns named values; the ...Shape structs derive the launch
// facts (threads, tile rows, dynamic shared memory) that flash_kernels.cu exports as _cfg.
// The numbers are measured choices: PERF_LOG.md has the sweeps behind them.
#pragma once
#include <type_traits>
#include "flash_common.cuh"

// The compiled head dims, ascending (exported as flash_head_dims by flash_kernels.cu).
// Developer shortcut: nvcc -DFLASH_ONLY_HD=128 builds only one head dim (quick ptxas checks).
#ifndef FLASH_ONLY_HD
#define FDJL_FOR_EACH_HEAD_DIM(X) X(32) X(64) X(96) X(128) X(192) X(256)
#else
#define FDJL_FOR_EACH_HEAD_DIM(X) X(FLASH_ONLY_HD)
#endif

namespace fdjl {

constexpr bool kSm90 = FDJL_SM90 != 0;
constexpr bool kWgmma = FDJL_WGMMA != 0;

// ------------------------------------------------------------------ dispatch: which body serves D
// The forward and dK/dV of every head dim but 32 run on warpgroup MMAs where the pass has them (their
// accumulators fit without spills there); everything else runs on mma.sync.
__host__ __device__ constexpr bool fwd_on_wgmma(int D) { return kWgmma && D >= 64; }
__host__ __device__ constexpr bool dkdv_on_wgmma(int D) { return kWgmma && D >= 64; }
// D > 128 (192, 256): the two warpgroups share their keys and split the head dim (flash_bwd_sm90_wide.cuh)
__host__ __device__ constexpr bool dkdv_splits_head_dim(int D) { return D > 128; }
// The dq kernel (the deterministic mode's dQ, and the atomic mode's where dkdv_adds_dq is false) of every head
// dim but 32 (at D = 256 with one stage of V, so that key tiles of 64 fit: dq_wgmma_tile).
__host__ __device__ constexpr bool dq_on_wgmma(int D) { return kWgmma && D >= 64; }
// Whether the dK/dV kernel adds dS K into dq_accum in the atomic mode (then the convert pass writes dQ). The
// head-dim-split kernel does so at D = 192 only, where a tile's dQ fits beside its operands for one bulk reduction.
// At D = 256 there is no room for it (its staged tile is 66 KiB), and the two-kernel backward (dK/dV, then the
// wgmma dq kernel) measured 1.13-1.19x faster than adding dQ with vector reductions (H200, PERF_LOG.md): there the
// dq kernel writes dQ in both modes. Exported per head dim as flash_dkdv_adds_dq (flash_params.h).
__host__ __device__ constexpr bool dkdv_adds_dq(int D) {
  return !(dkdv_on_wgmma(D) && dkdv_splits_head_dim(D)) || D == 192;
}
// Whether the dK/dV kernel without a score bias takes ORDERED DQ (flash_params.h): the wgmma kernel of D <= 128, so
// that the deterministic mode there costs the atomic mode's products (the dq kernel computes S and dP a second
// time). Exported per head dim as flash_dkdv_orders_dq.
__host__ __device__ constexpr bool dkdv_orders_dq(int D) { return dkdv_on_wgmma(D) && !dkdv_splits_head_dim(D); }

// Columns a wgmma kernel stores per tile row: whole 64-column swizzled blocks (flash_wgmma.cuh); a head dim
// of 96 takes two blocks, the second half zero-filled (the MMAs read only the first D columns).
__host__ __device__ constexpr int swizzled_cols(int D) { return (D + 63) / 64 * 64; }

// ------------------------------------------------------------------ dq_accum
// A row of dq_accum (the atomic backward's float32 dQ, head dim D of the kernels) holds D + 8 floats. The
// 32-byte pad puts each row 8 banks after the previous one, so the wgmma dK/dV kernel stages a tile of rows in
// shared memory in exactly this layout without bank conflicts, and adds the whole tile with one bulk reduction.
// Exported as flash_dq_accum_pad: the launchers allocate the rows.
constexpr int kDqAccumPad = 8;
__host__ __device__ constexpr int dq_accum_cols(int D) { return D + kDqAccumPad; }

// ------------------------------------------------------------------ forward, mma.sync
struct FwdMmaTile {
  int warps;         // warps per CTA; each owns 16 * m16_per_warp query rows for the whole kernel
  int m16_per_warp;  // m16 row tiles per warp (every K/V fragment is reused across them)
  int key_tile;      // keys per K/V tile (two shared-memory stages)
  bool q_in_regs;    // Q fragments kept in registers, else re-read from shared memory per tile
  int k_unroll;      // k16 steps unrolled when Q is read from shared memory (bounds registers)
  int min_blocks;    // CTAs per SM asked of the register allocator
};
__host__ __device__ constexpr FwdMmaTile fwd_mma_tile(int D, bool sm90) {
  FwdMmaTile t{};
  t.k_unroll = 2;
  t.min_blocks = 1;
  (void)sm90;  // sm_90 keeps the sm_80 values: every 2-CTA or 32-row-warp variant measured spills
  if (D <= 64) {
    t.warps = 4; t.m16_per_warp = 2; t.key_tile = 64; t.q_in_regs = true;
  } else if (D == 96) {
    t.warps = 4; t.m16_per_warp = 2; t.key_tile = 32; t.q_in_regs = false;
  } else if (D == 128) {
    t.warps = 8; t.m16_per_warp = 1; t.key_tile = 64; t.q_in_regs = true;
  } else {
    t.warps = 4; t.m16_per_warp = 1; t.key_tile = 32; t.q_in_regs = false;
  }
  return t;
}
template <int D> struct FwdMmaShape {
  static constexpr FwdMmaTile C = fwd_mma_tile(D, kSm90);
  static constexpr int W = C.warps, MT = C.m16_per_warp, BC = C.key_tile, MINB = C.min_blocks;
  static constexpr bool QREG = C.q_in_regs;
  static constexpr int KUNROLL = C.k_unroll;
  static constexpr int BR = 16 * MT * W, THREADS = 32 * W;
  static constexpr int SMEM = Lay<D>::bytes(BR) + 4 * Lay<D>::bytes(BC);  // Q, 2 stages of K and V
  static constexpr int PERSISTENT = 0;  // one CTA per row tile
};

// ------------------------------------------------------------------ warp specialisation (sm_90a)
// A producer warpgroup that only copies, beside two warpgroups that compute, one CTA per SM: 384 threads start at
// 168 registers, and the producer hands its registers to the others (setmaxnreg): 128 x 24 + 256 x 240 = 64 Ki.
// Beside three computing warpgroups (512 threads, 128 registers at the start) each of them gets 160.
struct ProducerSplit {
  static constexpr int PRODUCERS = 128, PRODUCER_REGS = 24, CONSUMER_REGS = 240;
  // what each of `warpgroups` computing warpgroups gets: the file's rest, in setmaxnreg's steps of 8, at most 240
  static constexpr int consumer_regs(int warpgroups) {
    const int share = (65536 - PRODUCERS * PRODUCER_REGS) / (128 * warpgroups) & ~7;
    return share < CONSUMER_REGS ? share : CONSUMER_REGS;
  }
};
static_assert(ProducerSplit::PRODUCERS * ProducerSplit::PRODUCER_REGS + 256 * ProducerSplit::CONSUMER_REGS <= 65536,
              "the register file of an SM");
static_assert(ProducerSplit::consumer_regs(2) == 240 && ProducerSplit::consumer_regs(3) == 160, "setmaxnreg's shares");

// ------------------------------------------------------------------ forward, wgmma (sm_90a)
struct FwdWgTile {
  int warpgroups;  // warpgroups per CTA, 64 query rows each
  int key_tile;    // keys per K/V tile
  int min_blocks;  // CTAs per SM asked of the register allocator
  int stages;      // shared-memory stages of K/V (a ring: >= 2 in lock-step, >= 3 in ping-pong but below)
  bool ping_pong;  // the computing warpgroups take turns on the tensor cores (2 or 3 of them), fed by one more that
                   // does every copy (a producer: what it measured per head dim, below), in a persistent CTA;
                   // lock-step: every warpgroup copies, one CTA per row tile
  bool split_kv;   // ping-pong: K and V in rings of their own (a K stage is freed after S, before P V), so that 2
                   // stages serve; measured 0.90-0.97x where 3 joint stages fit (d = 192, PERF_LOG.md)
  bool tma_loads;  // ping-pong: the producer copies by TMA where the launcher gave tensor maps (TMA LOADS in
                   // flash_params.h; exported as flash_fwd_tma_loads), else with cp.async
  int bias_buffers;  // the _bias kernels: tiles of score bias each computing warp stages ahead (BiasStage,
                     // flash_bias_stage.cuh); 0 in the others
  bool skip_unmoved_rescale;  // a warp skips O's rescale on a tile where none of its rows' maxima moved (the
                              // exact maximum: the same bits). Measured 1.02-1.05x at d = 256, 1.00-1.04x at 192,
                              // where the rescale is 96-128 multiplies a tile; 0.94-1.00x at d = 128, 0.98-1.01x at
                              // 64 (the vote costs what it saves; PERF_LOG.md)
};
// The _bias forwards' staging (BiasStage, flash_bias_stage.cuh): a buffer holds a warp's 16 rows x bc keys of up to
// 4 bytes (float32); each computing warp has nb of them and an mbarrier per buffer
__host__ __device__ constexpr int bias_stage_buffer_bytes(int bc) { return 16 * bc * 4; }
__host__ __device__ constexpr int bias_stage_bytes(int bc, int nb, int warps) {
  return nb * warps * (bias_stage_buffer_bytes(bc) + 8);
}
// A head dim may have a second forward for long key sequences, flash_fwd_long_* (flash_kernels.cu), which the launcher
// runs from fwd_long_min_keys(D, full) keys on (exported as flash_fwd_long_min_keys, and for calls where every row
// sees every key as flash_fwd_long_min_keys_full; 0: the pass has no such form for D), on calls without a score bias
// or a sliding window (CudaBackend.forwardKernelName).
// d = 64: on three computing warpgroups it measured 1.08-1.19x the lock-step form at 2k-16k; without a mask
// 1.05-1.06x at 512 keys and 1.12x at 1k; with a causal mask, where each warpgroup skips the key tiles its rows do
// not see, 1.00-1.05x at 1k and 0.98-0.99x at 512 (PERF_LOG.md), so each form keeps the lengths where it wins. With
// a score bias (masks included) the two-warpgroup long form measured 0.53-0.92x of the lock-step form at 2k-8k, so
// it has no bias kernels; with a window of 1024 keys, 0.92-0.93x (PERF_LOG.md).
constexpr int kFwdLongHeadDim = 64;  // the one head dim with a long form (flash_kernels.cu instantiates it)
__host__ __device__ constexpr int fwd_long_min_keys(int D, bool every_key_seen) {
  return kWgmma && D == kFwdLongHeadDim ? (every_key_seen ? 512 : 1024) : 0;
}

__host__ __device__ constexpr FwdWgTile fwd_wgmma_tile(int D, bool long_keys, bool bias = false) {
  // The _bias kernels (bias): each computing warp stages its rows of a partial tile's bias in shared memory (16 rows
  // x key_tile x 4 bytes a buffer), so their key tiles are what a buffer fits beside the stages
  FwdWgTile t{};
  t.warpgroups = 2;
  t.stages = 3;
  t.skip_unmoved_rescale = D >= 192;
  if (D == 64 && long_keys) {
    // 1 CTA per SM; 4 stages of 128 keys: 153 KiB (key tiles of 64 measured 0.80-0.97x of the lock-step form).
    // Three computing warpgroups (192 rows) take turns, so that each has two others' products to do its softmax
    // under: at d = 64 the exponents of a tile take the SM's MUFU as long as its products take the tensor cores
    t.warpgroups = 3; t.key_tile = 128; t.min_blocks = 1; t.ping_pong = true; t.stages = 4;
  } else if (D == 64) {
    // 2 CTAs per SM (<= 128 registers); _bias: one buffer, so that 2 CTAs still fit an SM
    t.key_tile = 64; t.min_blocks = 2; t.ping_pong = false; t.bias_buffers = bias ? 1 : 0;
  } else if (D <= 128) {
    // 3 stages: 225 KiB (D = 96: padded to 128). The producer warpgroup measured 1.06-1.13x at D = 128; at D = 96
    // 0.93-0.97x before the forward was persistent, 1.06-1.12x at 512-1k keys since (PERF_LOG.md).
    // TMA copies measured 1.17-1.34x of the producer's cp.async at D = 96 (whose second column block is half
    // padding), but 0.89-1.00x at D = 128 (PERF_LOG.md, cause not found).
    // _bias: key tiles of 64, the only way a buffer fits beside 3 stages (128 keys would take 64 KiB a buffer), and
    // two buffers, staged two tiles ahead
    t.key_tile = bias ? 64 : 128; t.min_blocks = 1; t.ping_pong = true; t.tma_loads = D == 96;
    t.bias_buffers = bias ? 2 : 0;
  } else if (D <= 192) {
    // O takes 96 registers. Ping-pong measured 1.02-1.17x over lock-step here, the producer warpgroup 1.00-1.05x
    // more; TMA copies level (0.90-1.08x), so off. Key tiles of 112 in K and V rings of their own, two stages
    // (Q 48 KiB, 216 KiB in all), measured 1.04-1.14x from 2k keys over 3 joint stages of 64 (PERF_LOG.md).
    // _bias: 3 joint stages of 64 keys and one buffer
    t.min_blocks = 1; t.ping_pong = true;
    if (bias) { t.key_tile = 64; t.bias_buffers = 1; }
    else { t.key_tile = 112; t.split_kv = true; t.stages = 2; }
  } else {
    // O takes 128 registers a thread. Ping-pong with a producer and K and V in rings of their own measured
    // 1.05-1.31x of lock-step; ping-pong on key tiles of 32 without a producer 0.69-0.91x; TMA copies level
    // (0.90-1.06x), so off. Key tiles of 80 (Q 64 KiB, two stages: 224 KiB) measured 0.98-1.08x of 64 (mean
    // 1.02; PERF_LOG.md). _bias: key tiles of 64 and one buffer
    t.key_tile = bias ? 64 : 80; t.min_blocks = 1; t.ping_pong = true; t.split_kv = true; t.stages = 2;
    t.bias_buffers = bias ? 1 : 0;
  }
  return t;
}
// Whether the forward of D (both forms) copies by TMA where the launcher gave tensor maps: exported per head dim as
// flash_fwd_tma_loads, so that the launcher encodes maps only for the kernels that read them
__host__ __device__ constexpr bool fwd_tma_loads(int D) { return fwd_on_wgmma(D) && fwd_wgmma_tile(D, false).tma_loads; }
static_assert(!fwd_wgmma_tile(kFwdLongHeadDim, true).tma_loads && !fwd_tma_loads(kFwdLongHeadDim),
              "the two forms of a head dim agree on TMA (one exported value per head dim)");

// the shared memory of a persistent kernel's TileQueue (flash_tile_queue.cuh): two full and two empty mbarriers, two
// ints
constexpr int kTileQueueBytes = 40;

template <int D, bool LONG_KEYS = false, bool BIAS = false> struct FwdWgShape {
  static_assert(!LONG_KEYS || fwd_long_min_keys(D, false) > 0, "a long-key form only where the head dim has one");
  static_assert(!(LONG_KEYS && BIAS), "the long-key forms have no bias kernels");
  static constexpr FwdWgTile C = fwd_wgmma_tile(D, LONG_KEYS, BIAS);
  static constexpr int NWG = C.warpgroups, BC = C.key_tile, NS = C.stages, MINB = C.min_blocks;
  static constexpr bool PP = C.ping_pong, SPLIT_KV = C.split_kv, TMA = C.tma_loads;
  static constexpr bool SKIP_RESCALE = C.skip_unmoved_rescale;
  static_assert(!TMA || PP, "TMA copies: ping-pong's producer");
  static_assert(NS >= (PP && !SPLIT_KV ? 3 : 2),
                "the K/V ring: 2 stages in lock-step (one barrier per tile) and with split rings (K freed after S, V "
                "after P V); 3 in ping-pong otherwise");
  static_assert(!SPLIT_KV || PP, "split K/V rings: ping-pong's producer copies K and V apart");
  static_assert(PP ? NWG == 2 || NWG == 3 : NWG == 2, "ping-pong: two or three warpgroups in turn; lock-step: two");
  // + the producer warpgroup of ping-pong (ProducerSplit)
  static constexpr int PRODUCERS = PP ? ProducerSplit::PRODUCERS : 0, CONSUMERS = 128 * NWG;
  static constexpr int PRODUCER_REGS = ProducerSplit::PRODUCER_REGS;
  static constexpr int CONSUMER_REGS = ProducerSplit::consumer_regs(NWG);
  static constexpr int BR = 64 * NWG, THREADS = CONSUMERS + PRODUCERS;
  static constexpr int DS = swizzled_cols(D);
  static constexpr int Q_BYTES = BR * DS * 2, KV_BYTES = BC * DS * 2;
  // + 1 KiB: the kernel aligns its tiles to 1024 bytes (the swizzle pattern repeats every 1 KiB);
  // ping-pong: + a full and an empty mbarrier per stage
  // ping-pong is persistent (one CTA per SM takes row tiles from a TileQueue; flash_params.h): its producer copies
  // the next row tile's Q and first K/V tile while the computing warpgroups finish the last one
  static constexpr int PERSISTENT = PP ? 1 : 0;
  // ping-pong: + a full and an empty mbarrier per stage (per stage of K and of V when split); persistent: + one for
  // Q's release and the TileQueue
  // _bias kernels: + NB staging buffers and their mbarriers per computing warp
  static constexpr int NB = C.bias_buffers, BIAS_BYTES = bias_stage_bytes(BC, NB, CONSUMERS / 32);
  static constexpr int SMEM = Q_BYTES + 2 * NS * KV_BYTES + 1024 + (PP ? (SPLIT_KV ? 32 : 16) * NS : 0) +
                              (PERSISTENT ? 8 + kTileQueueBytes : 0) + BIAS_BYTES;
  static_assert(BIAS == (NB > 0), "staging buffers in the _bias kernels only");
  static_assert(SMEM <= 227 * 1024, "the shared memory of a CTA");
  static_assert(MINB < 2 || 2 * (SMEM + 1024) <= 228 * 1024, "two CTAs per SM");
};

// the launch shape of flash_fwd_<dt>_hd<D> (BIAS: of flash_fwd_bias_<dt>_hd<D>) in the pass being compiled
// (flash_fwd_long_<dt>_hd<D>: FwdWgShape<D, true>)
template <int D, bool BIAS = false>
using FwdShape = std::conditional_t<fwd_on_wgmma(D), FwdWgShape<D, false, BIAS>, FwdMmaShape<D>>;

// ------------------------------------------------------------------ dK/dV, mma.sync
struct DkdvMmaTile {
  int key_groups;        // groups of 16 keys per CTA (BCK = 16 * key_groups)
  int warps_per_group;   // warps per key group, each owning head_dim / warps_per_group columns
  int query_tile;        // query rows per inner tile
  int stages;            // shared-memory stages of Q / dO (1 or 2)
  bool vector_dq_reduce; // dq_accum via red.v2 on sm_90 (hd 256: the vector form spills)
};
__host__ __device__ constexpr DkdvMmaTile dkdv_mma_tile(int D, bool sm90) {
  DkdvMmaTile t{};
  t.query_tile = 64;
  t.stages = 2;
  t.warps_per_group = 1;
  t.vector_dq_reduce = D <= 128;
  if (D <= 64) {
    t.key_groups = 8;
  } else if (D == 96) {
    t.key_groups = 4;
  } else if (D == 128) {
    // sm_80/86/89: single-buffered Q/dO to stay within the 99 KiB of sm_86/89
    t.key_groups = sm90 ? 8 : 4;
    t.stages = sm90 ? 2 : 1;
  } else {
    t.key_groups = 2; t.warps_per_group = 2; t.query_tile = 32; t.stages = 1;
  }
  return t;
}
template <int D> struct DkdvMmaShape {
  static constexpr DkdvMmaTile C = dkdv_mma_tile(D, kSm90);
  static constexpr int KG = C.key_groups, SPLIT = C.warps_per_group, BR = C.query_tile, ST = C.stages;
  static constexpr bool VEC_RED = C.vector_dq_reduce;
  static constexpr int NW = KG * SPLIT, THREADS = 32 * NW, BCK = 16 * KG;
  static constexpr int MINB = 0;  // no CTA count asked of ptxas (1 raised d = 32 from 170 to 198 registers)
  // K, V, ST x (Q, dO), dS^T, ST x (LSE, delta)
  static constexpr int SMEM = 2 * Lay<D>::bytes(BCK) + ST * 2 * Lay<D>::bytes(BR) +
                              Lay<BR>::bytes(BCK) + ST * 2 * BR * 4;
};

// ------------------------------------------------------------------ dK/dV, wgmma (sm_90a)
struct DkdvWgTile {
  int key_tile;    // keys per CTA, 64 per warpgroup
  int query_tile;  // query rows per inner tile (two stages of Q, dO, LSE, delta)
  bool tma_loads;  // the producer copies Q and dO by TMA where the launcher gave tensor maps (TMA LOADS in
                   // flash_params.h; exported within flash_bwd_tma_loads), else with cp.async; LSE and delta always
                   // by cp.async (their padding rows must read +inf and 0)
};
// TMA copies of Q and dO measured 1.06-1.13x of the producer's cp.async at d = 96 and 1.01-1.03x at d = 64; at
// d = 128, 0.90-1.02x with a box per 64-column block, 1.01-1.08x with one 5-D box of both (PERF_LOG.md).
// d = 64 takes Q tiles of 128 rows: its S^T is then one m64n128 product per k step, which reads less shared memory
// per MMA than two m64n64 (the pipe its products wait on, PERF_LOG.md); wider heads have no registers for it.
__host__ __device__ constexpr DkdvWgTile dkdv_wgmma_tile(int D) { return DkdvWgTile{128, D == 64 ? 128 : 64, D <= 128}; }
template <int D> struct DkdvWgShape {
  static constexpr DkdvWgTile C = dkdv_wgmma_tile(D);
  static constexpr int BCK = C.key_tile, BR = C.query_tile;
  static constexpr bool TMA = C.tma_loads;
  static_assert(BCK == 128 && (BR == 64 || (BR == 128 && D == 64)),
                "the kernel is written for two warpgroups of 64 keys, and 64-row tiles (128 at D = 64)");
  // dP^T in parts of DPN query rows: the whole of a 128-row one beside S^T, P^T and dK, dV does not fit the
  // registers (ptxas serialised the wgmmas, C7512)
  static constexpr int DPN = 64, DP_PARTS = BR / DPN;
  // dQ split between the consumer warpgroups by query rows (each m64 over its 64 rows, all head-dim columns) where a
  // tile has 128 rows, else by head-dim columns (each m64 over the tile's 64 rows, half the columns)
  static constexpr bool DQ_BY_ROWS = BR == 128;
  // the atomic mode's dK steps (k16, over the query rows) issued after dQ, so that dQ's staging runs under them,
  // while the others cover the warpgroups' barrier with dV: the last dP^T part's on 128-row tiles (1.02-1.07x); on
  // 64-row tiles none (dQ after all of dK, as before: 0.98-1.02x at d = 128 and 0.92-0.97x at d = 96 with 1, 2 or 4
  // of the 4 steps late, PERF_LOG.md)
  static constexpr int DK_LATE = BR == 128 ? DPN / 16 : 0;
  static_assert(DK_LATE >= 0 && DK_LATE <= DPN / 16, "dK's late steps lie in its last part");
  // a producer warpgroup (copies, dQ reductions) and two consumer warpgroups (ProducerSplit)
  static constexpr int PRODUCERS = ProducerSplit::PRODUCERS, CONSUMERS = 2 * BCK, THREADS = PRODUCERS + CONSUMERS;
  static constexpr int PRODUCER_REGS = ProducerSplit::PRODUCER_REGS, CONSUMER_REGS = ProducerSplit::CONSUMER_REGS;
  // one CTA per SM, said to ptxas: without it ptxas cannot tell the register count at entry and ignores setmaxnreg
  // (C7508; it did so at d = 64 and 96 and serialised the wgmmas)
  static constexpr int MINB = 1;
  static constexpr int DS = swizzled_cols(D);
  static constexpr int KV_BYTES = BCK * DS * 2, QT_BYTES = BR * DS * 2, DS_BYTES = BCK * BR * 2;
  // a tile's dQ in float32, staged for its bulk reduction: dq_accum's rows, whose pad keeps the accumulator
  // layout's 8-byte stores (8 rows, 4 column pairs per half warp) free of bank conflicts
  static constexpr int DQ_ROW = dq_accum_cols(D) * 4, DQ_BYTES = BR * DQ_ROW;
  static_assert(DQ_ROW % 16 == 0 && (DQ_ROW / 4) % 32 == 8, "bulk-copy alignment, conflict-free rows");
  // K, V, 2 x (Q, dO), 2 x dS^T, staged dQ, 2 x (LSE, delta), 7 mbarriers, + 1 KiB for the alignment done by
  // the kernel
  static constexpr int SMEM = 2 * KV_BYTES + 4 * QT_BYTES + 2 * DS_BYTES + DQ_BYTES + 4 * BR * 4 + 56 + 1024;
  static_assert(SMEM <= 227 * 1024, "shared memory per CTA on sm_90");
};

// dK/dV, wgmma, head dim split between the warpgroups (sm_90a, D > 128): one tile of 64 keys, 64-row Q tiles.
// Whether thread 0 copies Q and dO by TMA where the launcher gave tensor maps: measured 0.99-1.05x of the per-thread
// copies at D = 192 and 0.96-1.02x at D = 256 (PERF_LOG.md), so at 192 only
__host__ __device__ constexpr bool dkdv_wide_tma_loads(int D) { return D == 192; }
template <int D> struct DkdvWgWideShape {
  static constexpr int BCK = 64, BR = 64, THREADS = 256, MINB = 0;  // no CTA count asked of ptxas
  static_assert(D == 192 || D % 128 == 0, "each warpgroup's columns: whole 64-column blocks, or 64 + 32 at D = 192");
  static constexpr bool TMA = dkdv_wide_tma_loads(D);
  static constexpr int KV_BYTES = BCK * D * 2, QT_BYTES = BR * D * 2, PT_BYTES = BCK * BR * 2;
  // the item's staged dQ where the kernel adds it (dq_accum's rows)
  static constexpr int DQ_ROW = dq_accum_cols(D) * 4;
  static constexpr int DQ_BYTES = dkdv_adds_dq(D) ? BR * DQ_ROW : 0;
  // K, V, 2 x (Q, dO), P^T and dS^T in 16 bits, the staged dQ, 2 x (LSE, delta), two full mbarriers (TMA),
  // + 1 KiB for the alignment
  static constexpr int SMEM = 2 * KV_BYTES + 4 * QT_BYTES + 2 * PT_BYTES + DQ_BYTES + 4 * BR * 4 + (TMA ? 16 : 0) + 1024;
  static_assert(SMEM <= 227 * 1024, "shared memory per CTA on sm_90");
};

// Whether the 16-bit dK/dV kernel of D copies Q and dO by TMA where the launcher gave tensor maps; bwd_tma_loads,
// with the dq kernel's, is the export
__host__ __device__ constexpr bool dkdv_tma_loads(int D) {
  return dkdv_on_wgmma(D) && (dkdv_splits_head_dim(D) ? dkdv_wide_tma_loads(D) : dkdv_wgmma_tile(D).tma_loads);
}

// the launch shape of flash_bwd_dkdv_<dt>_hd<D> in the pass being compiled
template <int D>
using DkdvShape = std::conditional_t<!dkdv_on_wgmma(D), DkdvMmaShape<D>,
                                     std::conditional_t<dkdv_splits_head_dim(D), DkdvWgWideShape<D>, DkdvWgShape<D>>>;

// ------------------------------------------------------------------ dq (deterministic), mma.sync
struct DqMmaTile {
  int warps;     // warps per CTA, 16 query rows each
  int key_tile;  // keys per K/V tile (two stages)
  int k_unroll;  // k16 steps unrolled in S = Q K^T, dP = dO V^T (hd 256: fragments loaded ahead spill)
};
__host__ __device__ constexpr DqMmaTile dq_mma_tile(int D) {
  DqMmaTile t{};
  t.warps = D > 128 ? 2 : 4;
  t.key_tile = D > 128 ? 32 : 64;
  t.k_unroll = D > 128 ? 2 : D / 16;
  return t;
}
template <int D> struct DqMmaShape {
  static constexpr DqMmaTile C = dq_mma_tile(D);
  static constexpr int W = C.warps, BC = C.key_tile, KUNROLL = C.k_unroll;
  static constexpr int BR = 16 * W, THREADS = 32 * W, MINB = 0;  // no CTA count asked of ptxas
  static constexpr int SMEM = 2 * Lay<D>::bytes(BR) + 4 * Lay<D>::bytes(BC);  // Q, dO, 2 x (K, V)
};

// ------------------------------------------------------------------ dq (deterministic), wgmma (sm_90a)
struct DqWgTile {  // (and a producer warpgroup that does every copy)
  int warpgroups;  // computing warpgroups per CTA, 64 query rows each
  int key_tile;    // keys per K/V tile (two stages)
  bool tma_loads;  // the producer copies Q, dO, K and V by TMA where the launcher gave tensor maps (TMA LOADS in
                   // flash_params.h), else with cp.async
  bool split_kv;   // K in two stages and V in one, each with barriers of its own (V is freed once dP has read it,
                   // before dS and dQ): what lets key tiles of 64 fit at D = 256 (the producer's cp.async copies)
};
// One warpgroup: 97 KiB at D = 128, so two CTAs share an SM and their softmax and MMAs interleave; measured
// 0.99-1.12x the lock-step two-warpgroup CTA (129 KiB, one per SM) on the H200 (PERF_LOG.md). With a producer
// warpgroup beside it that copies by TMA (key tiles of 128 at D = 64 measured no better: PERF_LOG.md).
// D > 128: dQ alone takes 96-128 registers a thread; two computing warpgroups of 64 rows and a producer (cp.async;
// measured 1.00-1.05x at D = 256 and 1.04-1.07x for D = 192's deterministic backward over copies by the computing
// warpgroups, PERF_LOG.md), one CTA per SM. Key tiles of 64 at D = 192 (193 KiB; measured 1.02-1.12x the
// deterministic backward on tiles of 32), and at D = 256 with one stage of V (225 KiB; two would need 257): on tiles
// of 32, S and dP (m64n32k16, both operands in shared memory) read 3 KiB per 16-cycle product, 1.5x the rate at which
// an SM reads shared memory
__host__ __device__ constexpr DqWgTile dq_wgmma_tile(int D) {
  // the producer measured +3-9% at D = 128 (4k-16k); at D = 64 it lost 5-10% (1k-4k) while it copied with cp.async,
  // and copying by TMA it gains 1-4% at 16k, loses 2-7% at 1k causal (PERF_LOG.md)
  return D <= 128 ? DqWgTile{1, 64, true, false} : DqWgTile{2, 64, false, D == 256};
}
template <int D> struct DqWgShape {
  static constexpr DqWgTile C = dq_wgmma_tile(D);
  static constexpr int NWG = C.warpgroups, BC = C.key_tile;
  // + the producer warpgroup, whose registers the computing warpgroups take (setmaxnreg). With one computing
  // warpgroup, two CTAs of 256 threads per SM start at 128 registers: 128 x 24 + 128 x 232 = 32 Ki per CTA; with two,
  // one CTA of 384 threads: 128 x 24 + 256 x 232 = 61 Ki. MINB tells ptxas the count.
  static constexpr int PRODUCERS = 128, CONSUMERS = 128 * NWG;
  static constexpr bool TMA = C.tma_loads, SPLIT_KV = C.split_kv;
  static_assert(!SPLIT_KV || !TMA, "split K/V rings: the producer's cp.async copies");
  static constexpr int PRODUCER_REGS = 24, CONSUMER_REGS = 232, MINB = C.warpgroups == 1 ? 2 : 1;
  static constexpr int BR = 64 * NWG, THREADS = CONSUMERS + PRODUCERS;
  static constexpr int DS = swizzled_cols(D);
  static constexpr int Q_BYTES = BR * DS * 2, KV_BYTES = BC * DS * 2;
  // Q, dO, 2 x K, 2 x V (1 x V split), a full and an empty mbarrier per stage (and V's), + 1 KiB for the alignment
  // done by the kernel
  static constexpr int V_STAGES = SPLIT_KV ? 1 : 2;
  static constexpr int SMEM = 2 * Q_BYTES + (2 + V_STAGES) * KV_BYTES + 48 + 1024;
  static_assert(SMEM <= 227 * 1024, "shared memory per CTA on sm_90");
};

template <int D> using DqShape = std::conditional_t<dq_on_wgmma(D), DqWgShape<D>, DqMmaShape<D>>;
// Whether a kernel of D's 16-bit backward copies by TMA where the launcher gave tensor maps: exported per head dim as
// flash_bwd_tma_loads, so that the launcher encodes the backward's maps only where they are read
__host__ __device__ constexpr bool bwd_tma_loads(int D) {
  return dkdv_tma_loads(D) || (dq_on_wgmma(D) && dq_wgmma_tile(D).tma_loads);
}

// ------------------------------------------------------------------ float32, 3xTF32 (flash_*_tf32.cuh)
// The float32 forward, dK/dV and dQ of D <= 128 run on the tensor cores in the sm_90a pass, whose
// shared memory holds their float32 tiles; every other float32 kernel is the SIMT code of
// flash_f32.cuh (and the delta pass always is).
__host__ __device__ constexpr bool f32_on_tensor_cores(int D) { return kSm90 && D <= 128; }
// Whether the 3xTF32 dK/dV kernel adds dS K into dq_accum in the atomic mode (then the convert pass writes dQ, and
// the dq kernel, which recomputes S and dP for its dS, runs in the deterministic mode only): 5 products instead of
// 7. Exported per head dim as flash_f32_dkdv_adds_dq (flash_params.h).
__host__ __device__ constexpr bool f32_dkdv_adds_dq(int D) { return f32_on_tensor_cores(D); }
struct Tf32Tile {
  int warps;       // warps per CTA, 16 rows each (query rows: forward, dq; keys: dK/dV)
  int other_tile;  // rows of the streamed operand per tile (keys: forward, dq; queries: dK/dV)
  // Whether the streamed tiles are split into tf32 big and small planes once per tile, by all threads together
  // (one copy stage, then the planes), rather than by every warp as it reads them (two copy stages). Every warp
  // reads the whole streamed tile, so split on read each element is split by every warp, in both of the products
  // that read it: a third of the kernels' instructions (PERF_LOG "The backward's streamed tiles split once").
  // The planes take shared memory: at d = 64 the backward kernels then fit 2 CTAs per SM instead of 3, and ran
  // 0.91-0.94x for 20% fewer instructions; at d = 32 (4 CTAs) 1.10-1.12x. So the backward of d <= 32 only.
  bool split_once;
  // the streamed tile's shared memory, in F32Lay rows: 2 stages of 2 tiles, or 1 stage and 2 x 2 planes
  __host__ __device__ constexpr int streamed_rows() const { return (split_once ? 6 : 4) * other_tile; }
};
// Past D = 64 the streamed tile is halved, so that the tiles fit the shared memory and the products the registers.
// D = 128's backward: one CTA of 8 warps per SM (the same warps per SM) with d = 64's streamed tile, so that each warp
// splits its own operand rows for twice the MMAs: 0.99-1.07x atomic, 1.02-1.08x deterministic.
// D = 96's dK/dV kernel streams 32 queries, so that its dQ tile (32 x 96) splits over 4 warps in pairs of column tiles.
__host__ __device__ constexpr Tf32Tile dkdv_tf32_tile(int D) {
  return D == 128 ? Tf32Tile{8, 32, false} : Tf32Tile{4, D <= 96 ? 32 : 16, D <= 32};
}
// The mma.sync dq kernel serves the head dims the wgmma one does not (f32_dq_on_wgmma): 96 and 128.
__host__ __device__ constexpr Tf32Tile dq_tf32_tile(int D) {
  return D == 128 ? Tf32Tile{8, 32, false} : Tf32Tile{4, 16, false};
}
// The float32 forward on warpgroup MMAs (flash_fwd_tf32_wg.cuh; sm_90a): where it runs, and its shape. It ran
// 1.21-1.50x the mma.sync forward at d 32-128, then 1.01-1.07x more (PERF_LOG "The float32 forward on warpgroup
// MMAs"), and 1.19-1.45x with a bias at d 64-128. Not d = 32's bias forms, where a tile's mask and bias work weighs
// more than its short products (document masks 0.83x at N = 1k, ALiBi 0.94x): they keep the mma.sync forward
// (FwdTf32Shape).
// Two warpgroups of 64 query rows; Q's tf32 planes stay in shared memory (the A operand of S = Q K^T), K's and V's
// are made once per tile from one raw copy stage (K-major: V's planes transposed). D = 128 takes 32-key tiles so that
// the planes fit.
__host__ __device__ constexpr bool f32_fwd_on_wgmma(int D, bool bias) {
  return kWgmma && D <= 128 && (D >= 64 || !bias);
}
template <int D> struct FwdTf32WgShape {
  static constexpr int W = 8, BR = 128, BC = D <= 64 ? 64 : 32, ROWS = BR, THREADS = 32 * W;
  static constexpr int Q_PLANE = BR * D * 4, KV_PLANE = BC * D * 4;  // bytes of one tf32 plane
  // 1 KiB to align the swizzled planes by hand; Q's 2 planes, K's and V's 2 each, raw K and V (F32Lay rows)
  static constexpr int SMEM = 1024 + 2 * Q_PLANE + 4 * KV_PLANE + 2 * BC * (D + 4) * 4;
  static_assert(BR * (D + 4) * 4 <= 4 * KV_PLANE + 2 * BC * (D + 4) * 4, "raw Q lands over the K and V planes");
};
// float32 rows in shared memory take D + 4 floats (F32Lay). The mma.sync forward: 2 CTAs of 4 warps per SM, 64-key
// tiles split by every warp as it reads them (8 warps splitting once lost with a bias at d = 32, 0.76-0.96x).
template <int D> struct FwdTf32Shape {
  static constexpr Tf32Tile C{4, 64, false};
  static constexpr int W = C.warps, BC = C.other_tile;
  static constexpr int BR = 16 * W, ROWS = BR, THREADS = 32 * W;
  static constexpr int SMEM = (BR + C.streamed_rows()) * (D + 4) * 4;  // Q, the streamed K and V
};
template <int D> struct DkdvTf32Shape {
  static constexpr Tf32Tile C = dkdv_tf32_tile(D);
  static constexpr int HD = D, W = C.warps, BR = C.other_tile;
  static constexpr int BCK = 16 * W, ROWS = BCK, THREADS = 32 * W;
  static constexpr bool SPLIT_ONCE = C.split_once;
  // The atomic mode's dQ tile (BR queries x D, f32_dkdv_adds_dq): each warp takes 16 rows x DQ_COLS columns
  static constexpr bool ADDS_DQ = f32_dkdv_adds_dq(D);
  static constexpr int DQ_M = BR / 16, DQ_COLS = D * DQ_M / W;
  // dQ = dS K reads dS from shared memory (BR rows of BCK + 4 floats): in the item's dO stage once every warp has
  // read it, where that is large enough and not refilled while the item runs; else in a buffer of its own
  static constexpr bool DS_OWN = ADDS_DQ && (SPLIT_ONCE || D < BCK);
  // K, V, the streamed Q and dO (Tf32Tile::streamed_rows), 2 x (LSE, delta), dS's own buffer
  static constexpr int SMEM = (2 * BCK + C.streamed_rows()) * (D + 4) * 4 + 4 * BR * 4 + (DS_OWN ? BR * (BCK + 4) * 4 : 0);
  static_assert(!ADDS_DQ || (DQ_COLS % 16 == 0 && W % DQ_M == 0), "dQ's column tiles in pairs per warp");
  // CTAs per SM asked of ptxas (0: nothing). d = 32 fits 4 by shared memory, and its dQ took it to 171
  // registers: 2 CTAs by registers; 3 hold it at 168.
  static constexpr int MINB = D <= 32 ? 3 : 0;
};
// The float32 dK/dV kernel on warpgroup MMAs (flash_bwd_tf32_wg.cuh; sm_90a): two warpgroups of 64 keys (wgmma's M).
// K's and V's tf32 planes stay in shared memory, and each item's Q and dO are split once into planes K-major (for
// S^T = K Q^T, dP^T = V dO^T) and transposed (for dV += P^T dO, dK += dS^T Q): 8 planes per item, 64 queries at
// d = 32, 32 at d = 64. It ran 1.03-1.14x the mma.sync kernel's backward at d = 32, 1.10-1.25x at d = 64, and
// 1.02-1.11x with a bias at d = 64 except document masks at N = 1k (0.92x). Not d = 32's bias forms, where the larger
// tiles cost document masks 0.85x at N = 1k (as in the forward, f32_fwd_on_wgmma). Past d = 64 the planes of 128
// keys do not fit: one warpgroup of 64 keys with 32- (d = 96) or 16-query items (d = 128) ran 0.86-0.89x and
// 0.79-0.91x (PERF_LOG "The float32 dK/dV kernel on warpgroup MMAs"), so those keep mma.sync.
__host__ __device__ constexpr bool f32_dkdv_on_wgmma(int D, bool bias) {
  return kWgmma && D <= 64 && (D >= 64 || !bias);
}
template <int D> struct DkdvTf32WgShape {
  static constexpr int HD = D, WG = 2, BR = D <= 32 ? 64 : 32;
  static constexpr int W = 4 * WG, BCK = 64 * WG, ROWS = BCK, THREADS = 32 * W;
  static constexpr int KV_PLANE = BCK * D * 4, ITEM_PLANE = BR * D * 4;  // bytes of one tf32 plane
  static constexpr int RAW = 2 * BR * (D + 4) * 4;                     // raw Q and dO (F32Lay rows)
  // the atomic mode's dQ tile (BR queries x D, f32_dkdv_adds_dq): each warp takes 16 rows x DQ_COLS columns; dS
  // (BR rows of BCK + 4 floats) lands over the items' K-major planes, which S^T and dP^T have read, where it fits
  static constexpr bool ADDS_DQ = f32_dkdv_adds_dq(D);
  static constexpr int DQ_M = BR / 16, DQ_COLS = D * DQ_M / W;
  static constexpr int DS_BYTES = BR * (BCK + 4) * 4;
  static constexpr bool DS_OWN = ADDS_DQ && DS_BYTES > 4 * ITEM_PLANE;
  // 1 KiB to align the swizzled planes by hand; K's and V's planes, the item's 8, raw Q and dO, 2 x (LSE, delta), dS
  static constexpr int SMEM = 1024 + 4 * KV_PLANE + 8 * ITEM_PLANE + RAW + 4 * BR * 4 + (DS_OWN ? DS_BYTES : 0);
  static constexpr int MINB = 0;
  static_assert(2 * BCK * (D + 4) * 4 <= 8 * ITEM_PLANE + RAW, "raw K and V land over the items' planes");
  static_assert(!ADDS_DQ || (DQ_COLS % 16 == 0 && W % DQ_M == 0), "dQ's column tiles in pairs per warp");
  static_assert(SMEM <= 227 * 1024, "one CTA per SM");
  static_assert(D <= 64, "the planes of 128 keys fit shared memory up to d = 64");
};
template <int D> struct DqTf32Shape {
  static constexpr Tf32Tile C = dq_tf32_tile(D);
  static constexpr int W = C.warps, BC = C.other_tile;
  static constexpr int BR = 16 * W, ROWS = BR, THREADS = 32 * W;
  static_assert(!C.split_once, "the streamed K and V in two raw stages (bwd_dq_tf32_kernel)");
  static constexpr int SMEM = (2 * BR + C.streamed_rows()) * (D + 4) * 4;  // Q, dO, the streamed K and V
};
// The float32 dq kernel on warpgroup MMAs (flash_bwd_dq_tf32_wg.cuh; sm_90a), the deterministic mode's: the forward's
// structure (f32_fwd_on_wgmma) with three products per key tile. Two warpgroups of 64 query rows; Q's and dO's tf32
// planes stay in shared memory (the A operands of S = Q K^T and dP = dO V^T); per key tile K and V land raw in one
// stage and are split once into K's and V's K-major planes (the B operands of S and dP) and K's transposed ones (the B
// operand of dQ += dS K, whose A operand, dS, stays in registers). Q's and dO's planes of 128 rows take 128 KiB at
// d = 64, so past d = 64 the tiles do not fit: d 96-128 keep the mma.sync kernel. Unlike the other two kernels, d = 32's
// bias forms run on wgmma too: with key padding, documents and ALiBi the deterministic backward ran 0.98-1.10x the
// mma.sync dq kernel's (PERF_LOG "The float32 dq kernel on warpgroup MMAs").
__host__ __device__ constexpr bool f32_dq_on_wgmma(int D) { return kWgmma && D <= 64; }
template <int D> struct DqTf32WgShape {
  static constexpr int W = 8, BR = 128, BC = D <= 32 ? 64 : 32, ROWS = BR, THREADS = 32 * W;
  static constexpr int Q_PLANE = BR * D * 4, KV_PLANE = BC * D * 4;  // bytes of one tf32 plane
  // 1 KiB to align the swizzled planes by hand; Q's and dO's 2 planes each, K's, V's and K^T's 2 each, raw K and V
  static constexpr int SMEM = 1024 + 4 * Q_PLANE + 6 * KV_PLANE + 2 * BC * (D + 4) * 4;
  static_assert(BR * (D + 4) * 4 <= 2 * Q_PLANE && BR * (D + 4) * 4 <= 6 * KV_PLANE,
                "raw Q lands over dO's planes, raw dO over the key tile's");
  static_assert(SMEM <= 227 * 1024, "one CTA per SM");
};

// ------------------------------------------------------------------ elementwise and f32 kernels
struct PreShape { static constexpr int THREADS = 128, ROWS = 16, SMEM = 0; };   // 4 rows per warp
struct ConvShape { static constexpr int THREADS = 128, ROWS = 16, SMEM = 0; };
struct CastShape { static constexpr int THREADS = 256, ROWS = 32, SMEM = 0; };
// one warp per row; SMEM = 0 is how the launcher tells the SIMT float32 kernels from the 3xTF32 ones,
// to say once that a problem runs on the slow path (CudaBackend.runsOnSimt)
struct F32Shape { static constexpr int THREADS = 256, ROWS = 8, SMEM = 0, MINB = 0; };
// the launch shapes of flash_{fwd,bwd_dkdv,bwd_dq}_[bias_]f32_hd<D> in the pass being compiled
template <int D, bool BIAS>
using F32FwdShape = std::conditional_t<
    f32_fwd_on_wgmma(D, BIAS), FwdTf32WgShape<D>,
    std::conditional_t<f32_on_tensor_cores(D), FwdTf32Shape<D>, F32Shape>>;
template <int D, bool BIAS>
using F32DkdvShape = std::conditional_t<
    f32_dkdv_on_wgmma(D, BIAS), DkdvTf32WgShape<D>,
    std::conditional_t<f32_on_tensor_cores(D), DkdvTf32Shape<D>, F32Shape>>;
template <int D>
using F32DqShape = std::conditional_t<
    f32_dq_on_wgmma(D), DqTf32WgShape<D>, std::conditional_t<f32_on_tensor_cores(D), DqTf32Shape<D>, F32Shape>>;

}  // namespace fdjl
