// flash_params.h - the ABI between the CUDA kernels and their launchers (the Java launcher
// io.flashdjl.cuda.KernelParams / CudaBackend, and the Python harness src/test/python/flash_ctypes.py).
//
// The launcher packs these structs byte for byte (little endian, natural C alignment) and passes
// each one BY VALUE as the single kernel parameter. Field order is part of the ABI: every struct
// is 8-byte fields first, then 4-byte fields, with no interior padding (the bwd struct ends in
// an explicit 4-byte pad so that its size is a multiple of 8). Change a field here and change
// KernelParams.java and flash_ctypes.py in the same commit, and bump FLASH_ABI_VERSION.
//
// Layout-agnostic: BHSD and BSHD (and any other strides with a contiguous last dimension) are
// described by the three strides of each tensor, counted in ELEMENTS, not bytes (FlashTensor;
// the kernels read it through StridedView, flash_views.cuh). Head h of q reads kv head
// h / (heads_q / heads_kv) (grouped-query attention).
#pragma once
#include <stddef.h>
#include <stdint.h>

// The version of this ABI. The fatbin exports it (flash_abi_version, flash_kernels.cu); a
// launcher refuses a fatbin whose version differs from the one it packs. Version 1 (no exported
// symbol) had `int32_t mask` (0 none, 1 causal top-left, 2 causal bottom-right) instead of the
// band and the pointers ahead of all strides. Version 2 had neither the cast kernel nor the
// mixed (f32bf16) kernels; its structs are those of version 3. Version 3 had no sequences (the
// four pointers after lse / delta, vis_bottom_right). Version 4 had no dropout (dropout_seed and
// the three dropout fields at the end). Version 5 had no score bias (the FlashBias after
// dropout_seed, bias_kind, the flash_bias_tiles kernel). Version 6 had no flash_tma_copy (TMA). Version 7
// had dq_accum rows of exactly H floats (no flash_dq_accum_pad). Version 8 had no flash_dkdv_adds_dq (every
// 16-bit dkdv kernel added dQ into dq_accum when deterministic == 0). Version 9 had no flash_fwd_long_* kernels,
// no persistent kernels (_cfg[3] was always 0) and FlashFwdParams.row_tiles was padding. Version 10's persistent
// kernels walked a static share of the row tiles, so a launcher started one CTA per SM only when all tiles cost the
// same and one CTA per tile otherwise; from version 11 they take tiles from a queue and every launch is persistent.
// Version 11's FlashFwdParams ended at row_tiles (328 bytes): no tensor maps (tma_loads, q_map, k_map, v_map).
// Version 12's FlashBwdParams ended at bias_kind (472 bytes): no tensor maps (tma_loads, q_map, dout_map).
// Version 13's FlashBwdParams ended at dout_map (768 bytes: no k_map, v_map), and its export flash_dkdv_tma_loads
// named only the dkdv kernels that read maps (flash_bwd_tma_loads names the head dims whose backward reads them).
// Version 14 had no flash_f32_dkdv_adds_dq and no flash_bwd_convert_f32_hd<H>: the f32 dq kernel wrote dQ in both
// modes, and no f32 kernel read dq_accum. Version 15 had no flash_fwd_long_min_keys_full: the long forward's switch
// point was one key count for every band. Version 16 had no ordered deterministic mode (deterministic was 0 or 1;
// FlashBwdParams.dq_turns was padding) and no flash_dkdv_orders_dq. Version 17 had no STAGGERED STARTS
// (FlashBwdParams.stagger was padding, written 0: every walk started at the first Q tile).
#define FLASH_ABI_VERSION 18

// ============================================================================================
// KERNELS AND LAUNCH CONVENTION (flash_kernels.cu, built by build-fatbin.sh into one fatbin)
//
// extern "C" __global__ kernels, each taking ONE parameter, its param struct BY VALUE:
//   flash_fwd_<dt>_hd<H>          (FlashFwdParams)
//   flash_fwd_long_<dt>_hd<H>     (FlashFwdParams)  the same result, the form for long key sequences: only where
//                                                   flash_fwd_long_min_keys[H] > 0, dt in {f16, bf16, f32bf16}
//   flash_bwd_pre_<dt>_hd<H>      (FlashBwdParams)  delta = rowsum(dO*O); zeroes dq_accum when
//                                                   deterministic == 0 and dq_accum is not null
//   flash_bwd_dkdv_<dt>_hd<H>     (FlashBwdParams)  dk, dv (deterministic == 0 and the dtype's adds-dq flag:
//                                                   + atomic dq_accum)
//   flash_bwd_dq_<dt>_hd<H>       (FlashBwdParams)  writes dq directly (deterministic == 1 or not the flag)
//     deterministic == 2 (ORDERED DQ, below): pre, dkdv (adding dQ in a fixed order), convert
//     the adds-dq flag: flash_dkdv_adds_dq[H] for f16/bf16/f32bf16, flash_f32_dkdv_adds_dq[H] for f32
//   flash_bwd_convert_<dt>_hd<H>  (FlashBwdParams)  after a dkdv that added dq_accum: dq = dq_accum * scale
//   flash_cast_f32_bf16           (FlashCastParams) dst = src rounded to bf16 (nearest even), rows
//                                                   zero-padded to a multiple of 8 columns
//   flash_bias_tiles              (FlashBiasTilesParams) the tile summary of a score bias (SCORE BIAS)
//   flash_tma_copy                (FlashTmaCopyParams, __grid_constant__) a 16-bit matrix copied tile by
//                                 tile through a tensor map the launcher encoded (TMA, below; sm_90a only:
//                                 elsewhere it does nothing)
//   dt in {f16, bf16, f32, f32bf16}; H in the exported head-dim list.
//   f32bf16 ("mixed"): float32 data, bfloat16 compute. q, k, v and dout are the bf16 casts made by
//   flash_cast_f32_bf16 (rows padded to a multiple of 8, so any head_dim); o, dq, dk, dv are
//   float32 (per-element I/O, any head_dim); accumulation and softmax are float32 as in bf16. f32 dq goes through
//   dq_accum and convert only where flash_f32_dkdv_adds_dq[H] (the sm_90a pass's 3xTF32 kernels).
//   Which body serves which head dim in which device pass (mma.sync or, in the sm_90a code,
//   warpgroup MMA) is decided in flash_tiles.h; the contract is the same.
// Exported launch facts (read them with cuModuleGetGlobal):
//   extern "C" __device__ const int flash_abi_version;         == FLASH_ABI_VERSION
//   extern "C" __device__ const int flash_head_dim_count;      n
//   extern "C" __device__ const int flash_head_dims[n];        ascending compiled head dims
//   extern "C" __device__ const int flash_dq_accum_pad;        a dq_accum row holds H + pad floats
//   extern "C" __device__ const int flash_dkdv_adds_dq[n];     per head dim (of flash_head_dims): 1 if the
//     f16/bf16 dkdv kernel adds dQ into dq_accum when deterministic == 0 (then convert runs), 0 if it computes
//     no dQ (then the dq kernel runs in both modes, and dq_accum may be null); a device pass's own values
//   extern "C" __device__ const int flash_f32_dkdv_adds_dq[n]; the same for the f32 dkdv kernel of each head dim
//   extern "C" __device__ const int flash_dkdv_orders_dq[n];   per head dim: 1 if its f16/bf16/f32bf16 dkdv kernel
//     without a score bias takes deterministic == 2 (ORDERED DQ, below); a device pass's own values
//   extern "C" __device__ const int flash_fwd_long_min_keys[n]; per head dim: 0, or the key count (max_k) from
//     which the f16/bf16/f32bf16 forward runs flash_fwd_long_<dt>_hd<H> (faster there); a device pass's own values
//   extern "C" __device__ const int flash_fwd_long_min_keys_full[n]; the same for calls on which every row sees every
//     key (no band, no sequences)
//   extern "C" __device__ const int flash_fwd_tma_loads[n];   per head dim: 1 if its forwards (both forms) copy q, k
//     and v through the tensor maps of FlashFwdParams when tma_loads = 1 (TMA LOADS), 0 if they ignore them; a device
//     pass's own values
//   extern "C" __device__ const int flash_bwd_tma_loads[n];  per head dim: 1 if a kernel of its f16/bf16/f32bf16
//     backward (dkdv, or the deterministic mode's dq) copies through the tensor maps of FlashBwdParams when
//     tma_loads = 1 (TMA LOADS), 0 if they all ignore them; a device pass's own values
//   for every kernel K: extern "C" __device__ const int K_cfg[4] =
//     {threads_per_block, tile_rows, dynamic_smem_bytes, persistent_ctas_per_sm}
//   (a device pass's own values: the sm_90a code has its own _cfg values).
// Launch: if dynamic_smem_bytes > 48 KiB, set CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
//   to it first (largest cfg value: 98304 B in the sm_80/86/89 code, within the 99 KiB of
//   sm_86/sm_89; 230448 B in the sm_90a code, of the 227 KiB an H100 CTA may have);
//   grid  = (ceil(N / tile_rows), heads, Z), block = (threads_per_block, 1, 1),
//   sharedMemBytes = dynamic_smem_bytes, null stream, in this order:
//     forward:  fwd (or fwd_long, above)                     N = max_q,    heads = heads_q,  Z = batch
//     cast:     cast (one per tensor, before the kernels that read it) N = seqlen, heads = heads, Z = its batch
//     backward: pre                                          N = seqlen_q, heads = heads_q,  Z = tensor batch
//               dkdv                                         N = max_k,    heads = heads_kv, Z = batch
//               dq       (unless convert runs)               N = max_q,    heads = heads_q,  Z = batch
//               convert  (deterministic == 0 and the dtype's adds-dq flag, above)
//                                                            N = seqlen_q, heads = heads_q,  Z = tensor batch
//   max_q / max_k: seqlen_q / seqlen_k, or with offsets the longest sequence's rows (more is
//   allowed: CTAs past a sequence's rows return). tensor batch: batch, or 1 with offsets.
//   PERSISTENT KERNELS (persistent_ctas_per_sm > 0; so far only forwards): the grid above is the grid of row
//   tiles, X = ceil(N / tile_rows), and FlashFwdParams.row_tiles = X (write it for every forward). Launch blocks
//   on x only (y = z = 1): CTA b computes tile b, then the tiles a counter in the module hands out
//   (flash_tile_queue.cuh). Either min(X * heads * Z, persistent_ctas_per_sm * SMs) blocks, or X * heads * Z (one
//   per tile; the counter then hands out none), whichever is faster (io.flashdjl.cuda.CudaBackend.queuedRowTiles).
//   Persistent launches on one device must not overlap: issue them on one stream (the null stream).
// Kernel choice: H = the smallest exported head dim with head_dim <= H (D = 80 -> hd96).
//
// VISIBILITY: key j is visible to query i iff  i + vis_lo <= j <= i + vis_hi  (and 0 <= j < seqlen_k):
// one diagonal band (io.flashdjl.spi.Visibility). No mask: vis_lo = -seqlen_q, vis_hi = seqlen_k;
// causal top-left (SDPA's is_causal): vis_lo = -seqlen_q, vis_hi = 0; causal bottom-right:
// vis_lo = -seqlen_q, vis_hi = seqlen_k - seqlen_q; a sliding window of W keys: vis_lo = vis_hi - W + 1.
//
// PRECONDITIONS the launcher must check (else fall back to another backend):
//  all dtypes:
//   - 1 <= head_dim <= 256; seqlen_q >= 1, seqlen_k >= 1; batch >= 1; heads_kv >= 1 and
//     heads_q % heads_kv == 0; ceil(seqlen/tile_rows) < 2^31, heads <= 65535, batch <= 65535.
//   - seqlen_q + seqlen_k < 2^31 - 256, and -seqlen_q <= vis_lo <= vis_hi <= seqlen_k (the Java
//     Visibility clamps to this range): then no tile bound such as m0 + tile + vis_hi overflows.
//   - the last dimension of every tensor is contiguous (element stride 1); strides are in elements.
//   - lse and delta: contiguous float32 [B, Hq, Nq]; dq_accum: contiguous float32 [B, Hq, Nq, H + pad]
//     (H = the KERNEL head dim, not head_dim), base 16-byte aligned, needed only when the convert
//     kernel runs (it may be null otherwise).
//   - dq, dk, dv must not alias the inputs; o is read by the backward (the forward's output).
//   - scale > 0 and scale_log2 == scale * log2(e).
//  f16 / bf16 in addition:
//   - head_dim % 8 == 0;
//   - every base pointer (q, k, v, o, dout, dq, dk, dv) 16-byte aligned and every batch, head
//     and row stride a multiple of 8 elements (so every 8-element row chunk is 16-byte aligned).
//  f32 in addition: base pointers 4-byte aligned (natural); any head_dim <= 256, any strides.
//  f32bf16 in addition: q, k, v, dout (the casts) as for bf16 except head_dim: their rows hold
//   round_up(head_dim, 8) columns, the padding zero; o, dq, dk, dv as for f32.
//
// SEQUENCES: `batch` counts sequences, and the kernels of grid z = batch handle sequence blockIdx.z
// (flash_views.cuh, Sequence). Four optional int32 arrays on the device describe them (null: absent):
//   q_offsets, k_offsets [batch + 1]: packed sequences (FlashAttention-2's cu_seqlens). The tensors
//     have batch 1 and seqlen_q / seqlen_k rows; sequence s is rows offsets[s] .. offsets[s+1]-1.
//     Precondition: offsets[0] == 0, non-decreasing, offsets[batch] == seqlen. Both or neither.
//   q_lengths, k_lengths [batch]: of sequence s's rows, the first lengths[s] take part (padding
//     after them; values are clamped to [0, rows]). Padding query rows get O = 0, LSE = -inf and
//     dQ = 0; padding key rows get dK = dV = 0; padding rows are never read, so they may hold
//     anything (NaN included).
//   vis_bottom_right: 1 when the band is anchored at the bottom-right corner (causal bottom-right,
//     or a window around it). vis_lo / vis_hi are computed for seqlen_q x seqlen_k; each sequence
//     moves them by (k_len - q_len) - (seqlen_k - seqlen_q) and clamps to [-q_len, k_len].
//   lse, delta and dq_accum follow the tensors: [tensor batch, Hq, seqlen_q(, H + pad)].
//
// DROPOUT on the attention probabilities (flash_dropout.cuh defines the generator): with
// dropout_threshold in 1..256, P_ij is kept with probability threshold / 256 and then multiplied by
// dropout_scale (= 256 / threshold); the forward's LSE and the softmax are those of the undropped
// P. dropout_threshold = 0: no dropout (the other fields are not read). The backward must get the
// forward's seed, offset and threshold.
//
// SCORE BIAS (SDPA's attn_mask): with bias_kind != 0, bias.data holds one value per (batch, query
// head, query row, key) of the tensors, read at data + b * batch_stride + h * head_stride +
// row * row_stride + key (element strides; 0 broadcasts: a [1, 1, Nq, Nk] mask has batch and head
// strides 0, a [B, 1, 1, Nk] one a row stride of 0; the last dimension is contiguous):
//   bias_kind 1: uint8, 0 hides the key, anything else keeps it (a boolean mask);
//   bias_kind 2, 3, 4: float32, float16, bfloat16, added to the scaled score (scale * q.k + bias;
//     -inf hides the key).
// The visibility band and the sequences still apply: the bias only hides or shifts what they show.
// bias.tiles is its summary, made by flash_bias_tiles before the first kernel that reads the bias:
// one byte per cell of 64 x 64 (query rows, keys) of the tensors, per (batch, head) at tiles +
// b * tiles_batch_stride + h * tiles_head_stride + (row / 64) * ceil(seqlen_k / 64) + key / 64:
// 0 every element hides its key, 1 none needs reading (boolean: all kept; float: all exactly 0),
// 2 otherwise. Kernels skip tiles whose cells are all 0 and read elements only in tiles with a
// cell of 2. The summary strides are those of a contiguous [Bs, Hs, cells_q, cells_k] array whose
// dims are 1 where the bias broadcasts.
// The backward adds dS (the gradient of the scaled score) into bias.grad when it is not null: float32,
// zeroed by the launcher, at grad + b * grad_batch_stride + h * grad_head_stride + row *
// grad_row_stride + key, with atomic adds (strides 0 where the bias broadcasts sum over that
// dimension; without broadcasting each element is added once, to 0, so the result is exact and
// reproducible even then; with it, the order of the sums varies from run to run).
//
// TMA LOADS (sm_90a; FlashFwdParams.tma_loads = 1): the forwards of the head dims flash_fwd_tma_loads names (persistent
// ones) copy q, k and v through tensor maps instead of per-thread copies. The launcher may set it for those, on f16 /
// bf16 / f32bf16 operands without sequences (offsets and lengths all null: under a map, rows past a sequence's end are
// not zeros), and then encodes, with cuTensorMapEncodeTiled, one map per operand as follows (every other kernel
// ignores the maps; tma_loads = 0 leaves the maps unread, their bytes zero):
//   data type: CU_TENSOR_MAP_DATA_TYPE_FLOAT16 or _BFLOAT16 (the operands' 16 bits), global address: the tensor's
//   data; seqlen and heads: seqlen_q and heads_q for q, seqlen_k and heads_kv for k and v;
//   - head_dim not a multiple of 64: rank 4; dims, innermost first: {round_up(head_dim, 8) (f32bf16: the casts'
//     columns), seqlen, heads, batch}; strides in bytes: {row, head, batch} stride x 2; box {64, 64, 1, 1};
//   - head_dim a multiple of 64 (ABI 13): rank 5; dims {64, seqlen, head_dim / 64, heads, batch} (the third: the
//     64-column blocks of a row); strides in bytes: {row stride x 2, 128, head stride x 2, batch stride x 2};
//     box {64, 64, head_dim / 64, 1, 1} (one box lands a 64-row tile in the wgmma layout);
//   element strides all 1, no interleave, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B, zero fill
//   (CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE).
// Boxes past the tensor's rows or head_dim arrive as zeros, as the copiers' zero fill does. The kernels take their
// FlashFwdParams as a __grid_constant__ parameter (the maps' addresses go to the TMA unit).
// The backward the same way (FlashBwdParams.tma_loads, ABI 13; k_map and v_map from 14): where flash_bwd_tma_loads
// names the head dim, the launcher may encode q_map, dout_map, k_map and v_map as above (dout's map: dout's own
// strides, q's dims), under the same conditions (no sequences). The dkdv kernels that read maps copy Q and dO
// through them, the dq kernels that do copy Q, dO, K and V; every other backward kernel ignores them.
//
// Semantics: a query row that sees no key (e.g. bottom-right causal with seqlen_q > seqlen_k)
// gets O = 0 and LSE = -inf, and contributes zero gradients. Elements beyond head_dim are never
// read or written. dq_accum holds the UNSCALED sum of dS K; convert multiplies by scale.
// In deterministic mode nothing uses atomics: dk/dv/dq are bitwise reproducible.
//
// ORDERED DQ (deterministic == 2, ABI 17; only where flash_dkdv_orders_dq[H], without a score bias and without
// q_offsets): the same bits every run, from the atomic mode's kernels. The dkdv kernel adds each Q tile's dQ into
// dq_accum as in the atomic mode, but the key tiles that add into one Q tile take turns, from the last key tile to
// the first, each waiting for the one after it to have added (a counter per 64 query rows in dq_turns). Its grid is
// the atomic mode's; CTA x takes key tile gridDim.x - 1 - x, so that the tile a CTA waits for was started before it
// (the waits cannot deadlock while CTAs start in index order). Launch: pre (which zeroes dq_accum and dq_turns),
// dkdv, convert. dq_turns: [B, Hq, ceil(seqlen_q / 64)] contiguous uint32 scratch.
//
// STAGGERED STARTS (FlashBwdParams.stagger == 1, ABI 18; honoured by the 16-bit dkdv kernels of the head dims of
// flash_dkdv_orders_dq, without a score bias and without q_offsets, where the band cuts nothing; ignored elsewhere):
// key tile j of the n key tiles starts its walk over the Q tiles at Q tile floor(j m / n) of m (and wraps), so the
// key tiles that add into one Q tile reach it at different steps instead of all at once. With ORDERED DQ the turns
// then follow that order: the key tiles that start at or before the Q tile first, down to key tile 0, then the
// others from the last one down. A CTA may then wait for a CTA started after it (key tile 0 for the last one), so a
// launcher asks for both only where all n CTAs of a head can be resident at once (n <= the device's SMs: one CTA per
// SM).
// ============================================================================================

// One [B, H, N, D] tensor: base pointer and element strides of batch, head and row (the Java
// KernelParams.Strides); the last dimension is contiguous.
struct FlashTensor {
  void* data;
  int64_t batch_stride, head_stride, row_stride;
};

// A score bias (SCORE BIAS above); data == null and bias_kind == 0 when there is none.
struct FlashBias {                // 88 bytes
  const void* data;               // the values, in the dtype of bias_kind
  const uint8_t* tiles;           // the summary (written by flash_bias_tiles, read by the others)
  float* grad;                    // backward: the gradient (may be null); forward: null
  int64_t batch_stride, head_stride, row_stride;             // elements of data
  int64_t tiles_batch_stride, tiles_head_stride;             // bytes of tiles
  int64_t grad_batch_stride, grad_head_stride, grad_row_stride;  // elements of grad
};

// TMA: a tensor map (the driver's CUtensorMap: 128 opaque bytes, 64-byte aligned) made by the launcher with
// cuTensorMapEncodeTiled and passed by value inside a __grid_constant__ parameter struct, so that the kernel can hand
// its address to cp.async.bulk.tensor.
struct alignas(64) FlashTensorMap {
  uint64_t opaque[16];
};

struct FlashFwdParams {           // 768 bytes (64-byte aligned: the maps)
  FlashTensor q, k, v;            // [B, Hq, Nq, D], [B, Hkv, Nk, D] x 2, dtype T (read only)
  FlashTensor o;                  // [B, Hq, Nq, D], dtype T
  float* lse;                     // [B, Hq, Nq] contiguous float32, natural log of the scaled scores
  const int32_t* q_offsets;       // SEQUENCES (above); each may be null
  const int32_t* k_offsets;
  const int32_t* q_lengths;
  const int32_t* k_lengths;
  uint64_t dropout_seed;          // DROPOUT (above)
  FlashBias bias;                 // SCORE BIAS (above)
  int32_t batch, heads_q, heads_kv, seqlen_q, seqlen_k;
  int32_t head_dim;               // actual D (<= the kernel's head dim; multiple of 8 for fp16/bf16)
  float scale;                    // softmax scale
  float scale_log2;               // scale * log2(e)
  int32_t vis_lo, vis_hi;         // the visibility band (above)
  int32_t vis_bottom_right;       // SEQUENCES (above)
  uint32_t dropout_offset;        // DROPOUT (above)
  uint32_t dropout_threshold;
  float dropout_scale;
  int32_t bias_kind;              // SCORE BIAS (above): 0 none, 1 bool, 2 f32, 3 f16, 4 bf16
  int32_t row_tiles;              // ceil(max_q / tile_rows): the row tiles of the grid (PERSISTENT KERNELS, below)
  int32_t tma_loads;              // 1: q_map, k_map, v_map are tensor maps of q, k, v (TMA LOADS, below); 0: unset
  int32_t pad0;                   // write 0
  int64_t pad1[6];                // the maps' 64-byte alignment; write 0
  FlashTensorMap q_map, k_map, v_map;
};

struct FlashBwdParams {           // 1024 bytes (64-byte aligned: the maps)
  FlashTensor q, k, v, o, dout;   // inputs, dtype T (o: the forward's output)
  FlashTensor dq, dk, dv;         // outputs, dtype T
  const float* lse;               // [B, Hq, Nq] from the forward
  float* dq_accum;                // [B, Hq, Nq, H + pad] contiguous float32 scratch (H = kernel head dim)
  float* delta;                   // [B, Hq, Nq] contiguous float32 scratch: rowsum(dO * O)
  const int32_t* q_offsets;       // SEQUENCES (above); each may be null
  const int32_t* k_offsets;
  const int32_t* q_lengths;
  const int32_t* k_lengths;
  uint64_t dropout_seed;          // DROPOUT (above)
  FlashBias bias;                 // SCORE BIAS (above); bias.grad: its gradient, or null
  int32_t batch, heads_q, heads_kv, seqlen_q, seqlen_k;
  int32_t head_dim;
  float scale;
  float scale_log2;
  int32_t vis_lo, vis_hi;
  int32_t deterministic;          // 0: atomic adds; 1: dq from the separate dq kernel, no atomics anywhere (same
                                  // bits every run); 2: ORDERED DQ (above; same bits every run)
  int32_t vis_bottom_right;       // SEQUENCES (above)
  uint32_t dropout_offset;        // DROPOUT (above)
  uint32_t dropout_threshold;
  float dropout_scale;
  int32_t bias_kind;              // SCORE BIAS (above)
  int32_t tma_loads;              // 1: the maps are tensor maps of q, dout, k, v (TMA LOADS, below); 0: unset
  int32_t stagger;                // 1: STAGGERED STARTS (below; ABI 18, padding before); 0: every walk from the start
  uint32_t* dq_turns;             // ORDERED DQ's counters (above; ABI 17, padding before); null in the other modes
  int64_t pad1[3];                // the maps' 64-byte alignment; write 0
  FlashTensorMap q_map, dout_map, k_map, v_map;
};

struct FlashCastParams {          // 80 bytes
  FlashTensor src;                // [B, H, N, head_dim] float32 (read only)
  FlashTensor dst;                // [B, H, N, round_up(head_dim, 8)] bf16; 16-byte aligned base and row starts
  int32_t batch, heads, seqlen, head_dim;
};

// The summary of a score bias: grid (ceil(seqlen_k / 64), ceil(seqlen_q / 64), batch * heads), 256
// threads, writing bias.tiles (a contiguous [batch, heads, cells_q, cells_k] uint8 array; batch and
// heads are the bias's own, 1 where it broadcasts).
struct FlashBiasTilesParams {     // 112 bytes
  FlashBias bias;
  int32_t batch, heads, seqlen_q, seqlen_k;
  int32_t bias_kind;
  int32_t pad0;                   // write 0
};

// The launcher's own test of tensor maps (FlashTensorMap above). Grid of flash_tma_copy: (ceil(cols / 64),
// ceil(rows / 64), 1), 128 threads; the map's box is 64 x 64 elements, out-of-range elements zero-filled, and
// either no swizzle (swizzled = 0) or CU_TENSOR_MAP_SWIZZLE_128B (swizzled = 1: the kernel reads the box back through
// sw128, the layout the wgmma kernels' operands have, so the copy is exact only if TMA writes that layout).

struct FlashTmaCopyParams {       // 192 bytes
  FlashTensorMap src;             // a [rows, cols] 16-bit matrix, row-major (the map's global address)
  void* dst;                      // a [rows, cols] 16-bit matrix, row-major
  int64_t dst_row_stride;         // elements
  int32_t rows, cols;
  int32_t swizzled;               // 0: no swizzle; 1: the map's swizzle is 128B (above). 0 is the older launchers' pad
  int32_t pad0;
  int64_t pad[4];                 // the struct's 64-byte alignment; write 0
};

#ifdef __cplusplus
static_assert(sizeof(FlashTensorMap) == 128, "FlashTensorMap layout");
static_assert(sizeof(FlashTmaCopyParams) == 192, "FlashTmaCopyParams layout");
static_assert(sizeof(FlashBias) == 88, "FlashBias layout");
static_assert(sizeof(FlashBiasTilesParams) == 112, "FlashBiasTilesParams layout");
static_assert(sizeof(FlashTensor) == 32, "FlashTensor layout");
static_assert(sizeof(FlashCastParams) == 80, "FlashCastParams layout");
static_assert(sizeof(FlashFwdParams) == 768, "FlashFwdParams layout");
static_assert(offsetof(FlashFwdParams, q_map) == 384, "FlashFwdParams layout");
static_assert(sizeof(FlashBwdParams) == 1024, "FlashBwdParams layout");
static_assert(offsetof(FlashBwdParams, q_map) == 512, "FlashBwdParams layout");
static_assert(offsetof(FlashBwdParams, dq_turns) == 480, "FlashBwdParams layout");
#endif
