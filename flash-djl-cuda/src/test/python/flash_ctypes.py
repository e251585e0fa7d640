"""ctypes access to the flash-djl fatbin through libcuda, mirroring the Java launcher.

torch allocates the tensors and makes the primary context current; this module loads the fatbin
(cuModuleLoadData), reads its exported launch facts (flash_abi_version, flash_head_dims) and each
kernel's <name>_cfg[4] = {threads, tile_rows, dyn_smem, persistent CTAs per SM} (cuModuleGetGlobal), raises the dynamic
shared-memory limit when needed and launches on the null stream with the param struct passed by
value, exactly as io.flashdjl.cuda does (flash_params.h is the ABI).

Eighteen ABIs are understood, so that an old fatbin can be timed next to a new one in one process:
version 18 (FlashBwdParams.stagger in the padding before dq_turns: STAGGERED STARTS, backward(stagger=...) below),
version 17 (FlashBwdParams.dq_turns in the padding before the maps; the exported flash_dkdv_orders_dq says where the
deterministic mode may run ORDERED DQ, deterministic == 2: backward(deterministic="ordered") below),
version 16 (version 15's structs; the exported flash_fwd_long_min_keys_full is the long forward's switch point on calls
where every row sees every key, flash_fwd_long_min_keys the one on the others),
version 15 (version 14's structs; the exported flash_f32_dkdv_adds_dq says whether the f32 dkdv kernel adds dQ in the
atomic mode),
version 14 (FlashBwdParams ends in the tensor maps of q, dout, k and v: backward() encodes them where the exported
flash_bwd_tma_loads says a kernel of the head dim's backward reads them, under the forward's conditions),
version 13 (FlashBwdParams ends in the tensor maps of q and dout and their flag, read where the exported
flash_dkdv_tma_loads says the head dim's dkdv kernel reads them),
version 12 (FlashFwdParams ends in three tensor maps and their flag, tma_loads: forward() encodes the maps with the
driver's cuTensorMapEncodeTiled where the exported flash_fwd_tma_loads says the head dim's forward reads them, on
16-bit operands without sequences, as CudaBackend does;
FLASH_TMA=never keeps the kernels' own copies, for timing the two in one fatbin), version 11 (version 10's structs;
the persistent kernels take tiles from a queue, and calls with tiles of unequal cost run them with one CTA per SM
too, up to QUEUED_UNEVEN_MAX_KEYS keys: forward() and launch() below), version 10
(version 9's structs, with the forward's padding as row_tiles; persistent kernels, _cfg[3] > 0: launch() below;
flash_fwd_long_<dt>_hd<H> kernels, which forward() runs from the exported flash_fwd_long_min_keys[H] keys
on, without a score bias or a sliding window; the environment variable FLASH_FWD_FORM=long or short forces one
form where the head dim has both),
version 9 (version 8's structs; the exported flash_dkdv_adds_dq says per head dim whether the atomic mode's
dkdv kernel adds dQ into dq_accum, or the dq kernel runs in both modes: backward() below),
version 8 (version 7's structs; dq_accum rows padded by the exported flash_dq_accum_pad: scratch() below),
version 7 (version 6's structs and the flash_tma_copy kernel, which this harness does not launch),
version 6 (score bias: `bias=` below), version 5 (dropout: `dropout=(rate, seed, offset)` below), version 4 (sequences: padded lengths and
packed offsets, `seq=` below), version 3 (version 2's
structs, plus the cast kernel and the f32bf16 kernels: float32 data with bfloat16 compute,
`compute="bf16"` below), version 2 (exported flash_abi_version; the visibility
band vis_lo/vis_hi) and version 1 (no exported version: the mask codes 0/1/2, pointers ahead of all
strides, an f32 convert kernel).

A mask is "none", "tl" (causal top-left), "br" (causal bottom-right) or a band (lo, hi): key j is
visible to query i iff i + lo <= j <= i + hi (io.flashdjl.spi.Visibility).

Sequences (ABI 4): seq is None or a dict with any of "q_lengths", "k_lengths" (int32 [B] on the
device: valid rows per batch row), "q_offsets", "k_offsets" (int32 [S+1]: packed sequences in a
batch of 1; then also "max_q", "max_k", the longest sequence's rows) and "bottom_right" (the band
follows each sequence's bottom-right corner; implied by mask "br").

Score bias (ABI 6): bias is None, a 4-d tensor broadcastable to [B, Hq, Nq, Nk] (bool: a keep mask;
float32/float16/bfloat16: added to the scaled scores; size-1 dims broadcast, expanded views are
fine), or what prepare_bias returned for it (its tile summary made once, for timing). backward(...,
bias_grad=True) also returns the bias gradient, float32, in the bias's own (broadcast) shape.
"""
import ctypes as C
import math
import os

import torch

# CudaBackend.QUEUED_UNEVEN_MAX_KEYS: the longest key sequence whose tiles of unequal cost go through a persistent
# forward's queue (ABI 11)
QUEUED_UNEVEN_MAX_KEYS = 2048

DT = {torch.float16: "f16", torch.bfloat16: "bf16", torch.float32: "f32"}
CUDA_ERROR_NOT_FOUND = 500


def band(mask, Nq, Nk):
    """(lo, hi) of a mask, clamped to [-Nq, Nk] as io.flashdjl.spi.Visibility does."""
    if isinstance(mask, tuple):
        lo, hi = mask
    else:
        lo, hi = {"none": (-Nq, Nk), "tl": (-Nq, 0), "br": (-Nq, Nk - Nq)}[mask]
    return max(-Nq, min(Nk, lo)), max(-Nq, min(Nk, hi))


class Tensor(C.Structure):  # FlashTensor
    _fields_ = [("data", C.c_void_p), ("batch_stride", C.c_int64), ("head_stride", C.c_int64),
                ("row_stride", C.c_int64)]


_DIMS = [(n, C.c_int32) for n in ("batch", "heads_q", "heads_kv", "seqlen_q", "seqlen_k", "head_dim")] + \
        [("scale", C.c_float), ("scale_log2", C.c_float)]


class FwdParams(C.Structure):  # ABI 2
    _fields_ = [(n, Tensor) for n in ("q", "k", "v", "o")] + [("lse", C.c_void_p)] + _DIMS + \
               [("vis_lo", C.c_int32), ("vis_hi", C.c_int32)]


class BwdParams(C.Structure):  # ABI 2
    _fields_ = [(n, Tensor) for n in ("q", "k", "v", "o", "dout", "dq", "dk", "dv")] + \
               [(n, C.c_void_p) for n in ("lse", "dq_accum", "delta")] + _DIMS + \
               [("vis_lo", C.c_int32), ("vis_hi", C.c_int32), ("deterministic", C.c_int32), ("pad0", C.c_int32)]


_SEQS = [(n, C.c_void_p) for n in ("q_offsets", "k_offsets", "q_lengths", "k_lengths")]


class FwdParamsV4(C.Structure):  # ABI 4
    _fields_ = [(n, Tensor) for n in ("q", "k", "v", "o")] + [("lse", C.c_void_p)] + _SEQS + _DIMS + \
               [("vis_lo", C.c_int32), ("vis_hi", C.c_int32), ("vis_bottom_right", C.c_int32), ("pad0", C.c_int32)]


class BwdParamsV4(C.Structure):  # ABI 4
    _fields_ = [(n, Tensor) for n in ("q", "k", "v", "o", "dout", "dq", "dk", "dv")] + \
               [(n, C.c_void_p) for n in ("lse", "dq_accum", "delta")] + _SEQS + _DIMS + \
               [("vis_lo", C.c_int32), ("vis_hi", C.c_int32), ("deterministic", C.c_int32),
                ("vis_bottom_right", C.c_int32)]


assert C.sizeof(FwdParamsV4) == 216 and C.sizeof(BwdParamsV4) == 360

_DROP = [("dropout_offset", C.c_uint32), ("dropout_threshold", C.c_uint32), ("dropout_scale", C.c_float)]


class FwdParamsV5(C.Structure):  # ABI 5
    _fields_ = [(n, Tensor) for n in ("q", "k", "v", "o")] + [("lse", C.c_void_p)] + _SEQS + \
               [("dropout_seed", C.c_uint64)] + _DIMS + \
               [("vis_lo", C.c_int32), ("vis_hi", C.c_int32), ("vis_bottom_right", C.c_int32)] + _DROP


class BwdParamsV5(C.Structure):  # ABI 5
    _fields_ = [(n, Tensor) for n in ("q", "k", "v", "o", "dout", "dq", "dk", "dv")] + \
               [(n, C.c_void_p) for n in ("lse", "dq_accum", "delta")] + _SEQS + [("dropout_seed", C.c_uint64)] + \
               _DIMS + [("vis_lo", C.c_int32), ("vis_hi", C.c_int32), ("deterministic", C.c_int32),
                        ("vis_bottom_right", C.c_int32)] + _DROP + [("pad0", C.c_int32)]


assert C.sizeof(FwdParamsV5) == 232 and C.sizeof(BwdParamsV5) == 384


class Bias(C.Structure):  # FlashBias, ABI 6
    _fields_ = [(n, C.c_void_p) for n in ("data", "tiles", "grad")] + \
               [(n, C.c_int64) for n in ("batch_stride", "head_stride", "row_stride", "tiles_batch_stride",
                                         "tiles_head_stride", "grad_batch_stride", "grad_head_stride",
                                         "grad_row_stride")]


class FwdParamsV6(C.Structure):  # ABI 6
    _fields_ = [(n, Tensor) for n in ("q", "k", "v", "o")] + [("lse", C.c_void_p)] + _SEQS + \
               [("dropout_seed", C.c_uint64), ("bias", Bias)] + _DIMS + \
               [("vis_lo", C.c_int32), ("vis_hi", C.c_int32), ("vis_bottom_right", C.c_int32)] + _DROP + \
               [("bias_kind", C.c_int32), ("pad0", C.c_int32)]


class FwdParamsV10(C.Structure):  # ABI 10: version 6's padding is the grid's row tiles (persistent kernels)
    _fields_ = FwdParamsV6._fields_[:-1] + [("row_tiles", C.c_int32)]


class TensorMap(C.Structure):  # FlashTensorMap, ABI 12 (a CUtensorMap: 128 opaque bytes)
    _fields_ = [("opaque", C.c_uint64 * 16)]


class FwdParamsV12(C.Structure):  # ABI 12: + the tensor maps (TMA LOADS), 64-byte aligned: 768 bytes
    _fields_ = FwdParamsV10._fields_ + [("tma_loads", C.c_int32), ("pad0", C.c_int32), ("pad1", C.c_int64 * 6)] + \
        [(n, TensorMap) for n in ("q_map", "k_map", "v_map")]


assert C.sizeof(FwdParamsV12) == 768 and FwdParamsV12.q_map.offset == 384


class BwdParamsV6(C.Structure):  # ABI 6
    _fields_ = [(n, Tensor) for n in ("q", "k", "v", "o", "dout", "dq", "dk", "dv")] + \
               [(n, C.c_void_p) for n in ("lse", "dq_accum", "delta")] + _SEQS + \
               [("dropout_seed", C.c_uint64), ("bias", Bias)] + \
               _DIMS + [("vis_lo", C.c_int32), ("vis_hi", C.c_int32), ("deterministic", C.c_int32),
                        ("vis_bottom_right", C.c_int32)] + _DROP + [("bias_kind", C.c_int32)]


class BwdParamsV13(C.Structure):  # ABI 13: + the maps of q and dout (TMA LOADS), 64-byte aligned: 768 bytes
    _fields_ = BwdParamsV6._fields_ + [("tma_loads", C.c_int32), ("pad0", C.c_int32), ("pad1", C.c_int64 * 4)] + \
        [(n, TensorMap) for n in ("q_map", "dout_map")]


assert C.sizeof(BwdParamsV13) == 768 and BwdParamsV13.q_map.offset == 512


class BwdParamsV14(C.Structure):  # ABI 14: + the maps of k and v: 1024 bytes
    _fields_ = BwdParamsV13._fields_ + [(n, TensorMap) for n in ("k_map", "v_map")]


assert C.sizeof(BwdParamsV14) == 1024 and BwdParamsV14.k_map.offset == 768


class BwdParamsV17(C.Structure):  # ABI 17: dq_turns in version 14's padding: 1024 bytes
    _fields_ = BwdParamsV6._fields_ + [("tma_loads", C.c_int32), ("pad0", C.c_int32), ("dq_turns", C.c_void_p),
                                       ("pad1", C.c_int64 * 3)] + \
        [(n, TensorMap) for n in ("q_map", "dout_map", "k_map", "v_map")]


assert C.sizeof(BwdParamsV17) == 1024 and BwdParamsV17.dq_turns.offset == 480 and BwdParamsV17.q_map.offset == 512


class BwdParamsV18(C.Structure):  # ABI 18: stagger in version 17's padding: 1024 bytes
    _fields_ = BwdParamsV6._fields_ + [("tma_loads", C.c_int32), ("stagger", C.c_int32), ("dq_turns", C.c_void_p),
                                       ("pad1", C.c_int64 * 3)] + \
        [(n, TensorMap) for n in ("q_map", "dout_map", "k_map", "v_map")]


assert C.sizeof(BwdParamsV18) == 1024 and BwdParamsV18.stagger.offset == 476


class BiasTilesParams(C.Structure):  # ABI 6
    _fields_ = [("bias", Bias)] + [(n, C.c_int32) for n in ("batch", "heads", "seqlen_q", "seqlen_k", "bias_kind",
                                                            "pad0")]


assert C.sizeof(Bias) == 88 and C.sizeof(FwdParamsV6) == 328 and C.sizeof(FwdParamsV10) == 328 and C.sizeof(BwdParamsV6) == 472
assert C.sizeof(BiasTilesParams) == 112
BIAS_KIND = {torch.bool: 1, torch.float32: 2, torch.float16: 3, torch.bfloat16: 4}
BIAS_CELL = 64


def dropout_threshold(rate):
    """io.flashdjl.spi.DropoutBits.threshold: the keep threshold in 256ths (256: nothing dropped)."""
    return int(max(1, min(256, math.floor((1 - rate) * 256 + 0.5))))


class CastParams(C.Structure):  # ABI 3
    _fields_ = [("src", Tensor), ("dst", Tensor)] + [(n, C.c_int32) for n in ("batch", "heads", "seqlen", "head_dim")]


class FwdParamsV1(C.Structure):
    _fields_ = [(n, C.c_void_p) for n in ("q", "k", "v", "o", "lse")] + \
               [(f"{t}_{s}_stride", C.c_int64) for t in ("q", "k", "v", "o") for s in ("batch", "head", "row")] + \
               _DIMS + [("mask", C.c_int32), ("pad0", C.c_int32)]


class BwdParamsV1(C.Structure):
    _fields_ = [(n, C.c_void_p) for n in ("q", "k", "v", "o", "dout", "lse", "dq", "dk", "dv", "dq_accum", "delta")] + \
               [(f"{t}_{s}_stride", C.c_int64) for t in ("q", "k", "v", "o", "do", "dq", "dk", "dv")
                for s in ("batch", "head", "row")] + \
               _DIMS + [("mask", C.c_int32), ("deterministic", C.c_int32)]


assert C.sizeof(FwdParams) == 176 and C.sizeof(BwdParams) == 328 and C.sizeof(CastParams) == 80
assert C.sizeof(FwdParamsV1) == 176 and C.sizeof(BwdParamsV1) == 320
V1_MASK = {"none": 0, "tl": 1, "br": 2}
V1_HEAD_DIMS = (32, 64, 96, 128, 256)  # version 1 fatbins do not export their list


def _tensor(t):
    """FlashTensor of a [B, H, N, D] view (BSHD tensors are passed as .transpose(1, 2): no copy)."""
    s = t.stride()
    return Tensor(t.data_ptr(), s[0], s[1], s[2])


def dq_through_accumulator(deterministic, dkdv_adds_dq):
    """The launcher's rule (DqMode.throughAccumulator, without the ordered mode): convert runs in the atomic mode where the fatbin's
    dkdv kernel of the dtype and head dim adds dQ (flash_dkdv_adds_dq, ABI 9; for f32 flash_f32_dkdv_adds_dq, ABI
    15)."""
    return not deterministic and dkdv_adds_dq


class Flash:
    def __init__(self, fatbin_path, tma=None):
        """tma: "auto" or "never" (ABI 12's tensor maps; None: the environment's FLASH_TMA, else auto)."""
        torch.zeros(1, device="cuda")
        torch.cuda.synchronize()
        self.cu = C.CDLL("libcuda.so.1")
        self.mod = C.c_void_p()
        data = open(fatbin_path, "rb").read()
        self._data = C.create_string_buffer(data, len(data))
        self._ck(self.cu.cuModuleLoadData(C.byref(self.mod), self._data), "cuModuleLoadData")
        self.fns = {}
        version = self._ints("flash_abi_version", 1, missing_ok=True)
        self.abi = version[0] if version else 1
        if self.abi not in range(1, 19):
            raise RuntimeError(f"{fatbin_path}: kernel ABI version {self.abi}, this harness knows 1 to 18")
        if self.abi == 1:
            self.head_dims = V1_HEAD_DIMS
        else:
            self.head_dims = tuple(self._ints("flash_head_dims", self._ints("flash_head_dim_count", 1)[0]))
        # a dq_accum row holds the kernel head dim + this many floats (version 8 on)
        self.dq_accum_pad = self._ints("flash_dq_accum_pad", 1)[0] if self.abi >= 8 else 0
        # per head dim: whether the atomic mode's dkdv kernel adds dQ (version 9 on; before, all of them did)
        adds = self._ints("flash_dkdv_adds_dq", len(self.head_dims)) if self.abi >= 9 else [1] * len(self.head_dims)
        self.dkdv_adds_dq = {h: a != 0 for h, a in zip(self.head_dims, adds)}
        # the same for the f32 dkdv kernels (version 15 on; before, none of them did)
        orders = self._ints("flash_dkdv_orders_dq", len(self.head_dims)) if self.abi >= 17 else [0] * len(self.head_dims)
        self.dkdv_orders_dq = {h: o != 0 for h, o in zip(self.head_dims, orders)}
        adds = self._ints("flash_f32_dkdv_adds_dq", len(self.head_dims)) if self.abi >= 15 else [0] * len(self.head_dims)
        self.f32_dkdv_adds_dq = {h: a != 0 for h, a in zip(self.head_dims, adds)}
        # per head dim: the key count from which the forward runs flash_fwd_long_* (version 10 on; 0: no such form)
        longs = self._ints("flash_fwd_long_min_keys", len(self.head_dims)) if self.abi >= 10 else [0] * len(self.head_dims)
        self.fwd_long_min_keys = dict(zip(self.head_dims, longs))
        # ... and on calls where every row sees every key (version 16 on; before, the same count)
        longs = self._ints("flash_fwd_long_min_keys_full", len(self.head_dims)) if self.abi >= 16 else longs
        self.fwd_long_min_keys_full = dict(zip(self.head_dims, longs))
        # per head dim: whether its forwards copy through tensor maps when given them (version 12 on)
        tmas = self._ints("flash_fwd_tma_loads", len(self.head_dims)) if self.abi >= 12 else [0] * len(self.head_dims)
        self.fwd_tma_loads = {h: t != 0 for h, t in zip(self.head_dims, tmas)}
        # per head dim: whether a kernel of its 16-bit backward copies through tensor maps (version 13: the dkdv
        # kernel, q and dout; from 14 also the dq kernel, q, dout, k and v)
        bwd_tma = "flash_bwd_tma_loads" if self.abi >= 14 else "flash_dkdv_tma_loads"
        tmas = self._ints(bwd_tma, len(self.head_dims)) if self.abi >= 13 else [0] * len(self.head_dims)
        self.bwd_tma_loads = {h: t != 0 for h, t in zip(self.head_dims, tmas)}
        self.tma = tma or os.environ.get("FLASH_TMA", "auto")  # "auto" (the launcher's rule) or "never" (ABI 12)
        self._maps = {}  # encoded tensor maps by tensor address, shape, strides and dtype (a timed call encodes none)
        if self.tma not in ("auto", "never"):
            raise ValueError(f"FLASH_TMA={self.tma!r}: expected auto or never")
        self.fwd_form = os.environ.get("FLASH_FWD_FORM")  # None (the launcher's rule), "long" or "short"
        if self.fwd_form not in (None, "long", "short"):
            raise ValueError(f"FLASH_FWD_FORM={self.fwd_form!r}: expected long or short")

    def _ck(self, r, what):
        if r != 0:
            s = C.c_char_p()
            self.cu.cuGetErrorString(r, C.byref(s))
            raise RuntimeError(f"{what}: CUDA error {r} {s.value}")

    def _ints(self, name, n, missing_ok=False):
        dptr, size = C.c_uint64(), C.c_size_t()
        r = self.cu.cuModuleGetGlobal_v2(C.byref(dptr), C.byref(size), self.mod, name.encode())
        if r == CUDA_ERROR_NOT_FOUND and missing_ok:
            return None
        self._ck(r, name)
        assert size.value == 4 * n, f"{name}: {size.value} bytes, expected {n} ints"
        out = (C.c_int * n)()
        self._ck(self.cu.cuMemcpyDtoH_v2(out, dptr, C.c_size_t(4 * n)), name)
        return list(out)

    def fn(self, name):
        if name not in self.fns:
            f = C.c_void_p()
            self._ck(self.cu.cuModuleGetFunction(C.byref(f), self.mod, name.encode()), name)
            cfg = self._ints(name + "_cfg", 4)
            if cfg[2] > 48 * 1024:
                self._ck(self.cu.cuFuncSetAttribute(f, 8, cfg[2]), "cuFuncSetAttribute")  # MAX_DYNAMIC_SHARED
            self.fns[name] = (f, cfg)
        return self.fns[name]

    def launch(self, name, params, n, heads, batch, queued=False):
        """The grid of ceil(n / tile rows) x heads x batch tiles: one block per tile or, for a persistent kernel
        (_cfg[3] = CTAs per SM), a row of blocks: at most that many per SM when `queued` (CudaKernels.grid; ABI 10's
        kernels walk a static share of the tiles, ABI 11's take them from a queue), else one per tile."""
        f, (threads, rows, smem, persist) = self.fn(name)
        grid = ((n + rows - 1) // rows, heads, batch)
        if self.abi >= 10 and persist > 0:  # a row of blocks, each walking the tiles from its own on
            tiles = grid[0] * heads * batch
            grid = (min(tiles, persist * self.multiprocessors()) if queued else tiles, 1, 1)
        arg = (C.c_void_p * 1)(C.cast(C.pointer(params), C.c_void_p))
        self._ck(self.cu.cuLaunchKernel(f, *(C.c_uint(x) for x in grid),
                                        C.c_uint(threads), C.c_uint(1), C.c_uint(1), C.c_uint(smem),
                                        None, arg, None), "launch " + name)

    def multiprocessors(self):
        if not hasattr(self, "_sms"):
            self._sms = torch.cuda.get_device_properties(torch.cuda.current_device()).multi_processor_count
        return self._sms

    def row_tiles(self, name, n):
        """ceil(n / the kernel's tile rows): FlashFwdParams.row_tiles (ABI 10)."""
        rows = self.fn(name)[1][1]
        return (n + rows - 1) // rows

    def encode_map(self, t, D, into, whole):
        """Writes the tensor map of the first D columns of a 16-bit [B, H, N, >= D] view into `into` (TMA LOADS in
        flash_params.h; CudaBackend.operandMaps): rank 4, or rank 5 where `whole` (the head dim is a whole number of
        64-column blocks: TensorMaps.wholeBlockMap); False when the driver refuses it (strides it cannot map)."""
        B, H, N = t.shape[:3]
        s = t.stride()
        key = (t.data_ptr(), B, H, N, D, s[:3], t.dtype, whole)
        if key in self._maps:
            C.memmove(C.addressof(into), self._maps[key], C.sizeof(TensorMap))
            return True
        raw = C.create_string_buffer(C.sizeof(TensorMap) + 64)  # the encoder wants a 64-byte aligned map
        at = (C.addressof(raw) + 63) // 64 * 64
        if whole:  # (64 columns, rows, 64-column blocks, heads, batch); a box: 64 rows of every block
            dims, strides, box = (64, N, D // 64, H, B), (2 * s[2], 128, 2 * s[1], 2 * s[0]), (64, 64, D // 64, 1, 1)
        else:
            dims, strides, box = (D, N, H, B), (2 * s[2], 2 * s[1], 2 * s[0]), (64, 64, 1, 1)
        rank = len(dims)
        r = self.cu.cuTensorMapEncodeTiled(
            C.c_void_p(at), C.c_int(9 if t.dtype == torch.bfloat16 else 6), C.c_uint(rank), C.c_void_p(t.data_ptr()),
            (C.c_uint64 * rank)(*dims), (C.c_uint64 * (rank - 1))(*strides),
            (C.c_uint32 * rank)(*box), (C.c_uint32 * rank)(*([1] * rank)),
            C.c_int(0), C.c_int(3), C.c_int(2), C.c_int(0))  # no interleave, 128-byte swizzle, L2 128 B, zero fill
        if r != 0:
            return False
        C.memmove(C.addressof(into), at, C.sizeof(TensorMap))
        self._maps[key] = C.string_at(at, C.sizeof(TensorMap))
        return True

    def encode_maps(self, D, maps):
        """Encodes a call's (tensor, struct field) maps of head dim D as CudaBackend.operandMaps does: the stored
        columns, rank 5 where D is a whole number of 64-column blocks (TensorMaps.wholeBlockMap, the kernels'
        tma_whole_block_map). Returns the flag tma_loads: 1 when every map was encoded, else 0."""
        cols = (D + 7) // 8 * 8  # the columns stored (the casts' rows are padded to 8)
        whole = D % 64 == 0
        return int(all(self.encode_map(t, cols, m, whole) for t, m in maps))

    def kernel_hd(self, d):
        for h in self.head_dims:
            if d <= h:
                return h
        raise ValueError(f"head dim {d} is above the compiled ones {self.head_dims}")

    def fwd_long(self, dt, H, max_k, biased, windowed, every_key_seen):
        """Whether the forward runs head dim H's form for long key sequences (CudaBackend.forwardKernelName's rule:
        16-bit compute, no score bias, no sliding window, from the switch point of the call's band; FLASH_FWD_FORM
        forces a form where H has both, that is, also on a window)."""
        if dt == "f32" or biased or self.fwd_long_min_keys.get(H, 0) == 0:
            return False
        if self.fwd_form is not None:
            return self.fwd_form == "long"
        switch = (self.fwd_long_min_keys_full if every_key_seen else self.fwd_long_min_keys)[H]
        return not windowed and max_k >= switch

    def supports(self, mask):
        return self.abi >= 2 or mask in V1_MASK

    def _dims(self, p, B, Hq, Hkv, Nq, Nk, D, scale, mask):
        p.batch, p.heads_q, p.heads_kv, p.seqlen_q, p.seqlen_k, p.head_dim = B, Hq, Hkv, Nq, Nk, D
        p.scale, p.scale_log2 = scale, scale * math.log2(math.e)
        if self.abi == 1:
            if mask not in V1_MASK:
                raise ValueError(f"an ABI 1 fatbin has no band masks ({mask})")
            p.mask = V1_MASK[mask]
        else:
            p.vis_lo, p.vis_hi = band(mask, Nq, Nk)

    def _seqs(self, p, seq, mask):
        """Fills the ABI 4 sequence fields; returns (grid batch, rows of the longest q and k sequence)."""
        seq = seq or {}
        if self.abi < 4:
            if seq:
                raise ValueError("an ABI < 4 fatbin has no sequences")
            return None
        for n in ("q_offsets", "k_offsets", "q_lengths", "k_lengths"):
            t = seq.get(n)
            assert t is None or (t.dtype == torch.int32 and t.is_cuda and t.is_contiguous()), n
            setattr(p, n, t.data_ptr() if t is not None else None)
        p.vis_bottom_right = 1 if (mask == "br" or seq.get("bottom_right")) else 0
        if seq.get("q_offsets") is not None:
            return seq["q_offsets"].numel() - 1, seq["max_q"], seq["max_k"]
        return None

    def _dropout(self, p, dropout):
        """Fills the ABI 5 dropout fields from (rate, seed, offset) or None."""
        if self.abi < 5:
            if dropout:
                raise ValueError("an ABI < 5 fatbin has no dropout")
            return
        t = dropout_threshold(dropout[0]) if dropout else 256
        if t == 256:
            p.dropout_threshold = 0
            return
        p.dropout_seed, p.dropout_offset = dropout[1] & (2**64 - 1), dropout[2] & (2**32 - 1)
        p.dropout_threshold, p.dropout_scale = t, 256.0 / t

    def prepare_bias(self, bias, Nq, Nk):
        """A bias tensor with its tile summary (flash_bias_tiles): a dict forward and backward take."""
        if isinstance(bias, dict):
            return bias
        if self.abi < 6:
            raise ValueError("an ABI < 6 fatbin has no score bias")
        t = bias[(None,) * (4 - bias.dim())] if bias.dim() < 4 else bias
        assert t.shape[2] in (1, Nq) and t.shape[3] == Nk and t.stride(3) == 1, ("bias shape", t.shape, t.stride())
        strides = [0 if t.shape[i] == 1 else t.stride(i) for i in range(3)]
        Bs, Hs = t.shape[0], t.shape[1]
        cq, ck = (Nq + BIAS_CELL - 1) // BIAS_CELL, (Nk + BIAS_CELL - 1) // BIAS_CELL
        tiles = torch.empty(Bs, Hs, cq, ck, dtype=torch.uint8, device=t.device)
        b = Bias()
        b.data, b.tiles = t.data_ptr(), tiles.data_ptr()
        b.batch_stride, b.head_stride, b.row_stride = strides
        b.tiles_batch_stride = 0 if Bs == 1 else Hs * cq * ck
        b.tiles_head_stride = 0 if Hs == 1 else cq * ck
        tp = BiasTilesParams()
        tp.bias, tp.batch, tp.heads, tp.seqlen_q, tp.seqlen_k = b, Bs, Hs, Nq, Nk
        tp.bias_kind = BIAS_KIND[t.dtype]
        self.launch("flash_bias_tiles", tp, Nk, cq, Bs * Hs)
        return {"t": t, "tiles": tiles, "struct": b, "kind": BIAS_KIND[t.dtype]}

    def _bias(self, p, bias, Nq, Nk, grad=False):
        """Fills the ABI 6 bias fields; returns the zeroed float32 gradient when grad is asked for."""
        if self.abi < 6:
            if bias is not None:
                raise ValueError("an ABI < 6 fatbin has no score bias")
            return None
        if bias is None:
            p.bias_kind = 0
            return None
        prepared = self.prepare_bias(bias, Nq, Nk)
        t = prepared["t"]
        p.bias, p.bias_kind = prepared["struct"], prepared["kind"]
        if not grad:
            return None
        g = torch.zeros(t.shape, dtype=torch.float32, device=t.device)
        p.bias.grad = g.data_ptr()
        p.bias.grad_batch_stride, p.bias.grad_head_stride, p.bias.grad_row_stride = (
            0 if t.shape[i] == 1 else g.stride(i) for i in range(3))
        return g

    def cast_bf16(self, x):
        """The bfloat16 copy of a float32 [B, H, N, D] view that the f32bf16 kernels read (rows padded to 8)."""
        if self.abi < 3:
            raise ValueError("an ABI < 3 fatbin has no cast kernel")
        B, H, N, D = x.shape
        y = torch.empty(B, H, N, (D + 7) // 8 * 8, device=x.device, dtype=torch.bfloat16)
        p = CastParams()
        p.src, p.dst = _tensor(x), _tensor(y)
        p.batch, p.heads, p.seqlen, p.head_dim = B, H, N, D
        self.launch("flash_cast_f32_bf16", p, N, H, B)
        return y

    def _operands(self, compute, *ts):
        """(kernel dtype token, the tensors the kernels read): compute="bf16" on float32 data casts them."""
        if compute is None:
            return DT[ts[0].dtype], ts
        if compute != "bf16" or ts[0].dtype != torch.float32:
            raise ValueError(f"compute {compute!r} on {ts[0].dtype}: only float32 data with compute='bf16'")
        return "f32bf16", tuple(self.cast_bf16(t) for t in ts)

    # q, k, v, o are [B, H, N, D] views (BSHD tensors are passed as .transpose(1, 2): no copy)
    def forward(self, q, k, v, mask="none", scale=None, o=None, lse=None, compute=None, seq=None, dropout=None,
                bias=None):
        B, Hq, Nq, D = q.shape
        Hkv, Nk = k.shape[1], k.shape[2]
        scale = scale if scale is not None else 1.0 / math.sqrt(D)
        if o is None:
            o = torch.empty_like(q)
        if lse is None:
            lse = torch.empty(B, Hq, Nq, device=q.device, dtype=torch.float32)
        if self.abi == 1:
            p = FwdParamsV1()
            p.q, p.k, p.v, p.o, p.lse = q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), lse.data_ptr()
            for name, t in (("q", q), ("k", k), ("v", v), ("o", o)):
                for s, val in zip(("batch", "head", "row"), t.stride()[:3]):
                    setattr(p, f"{name}_{s}_stride", val)
            dt = DT[q.dtype]
        else:
            dt, (qc, kc, vc) = self._operands(compute, q, k, v)
            p = (FwdParamsV12() if self.abi >= 12 else FwdParamsV10() if self.abi >= 10
                 else FwdParamsV6() if self.abi >= 6 else FwdParamsV5() if self.abi == 5
                 else FwdParamsV4() if self.abi == 4 else FwdParams())
            p.q, p.k, p.v, p.o = _tensor(qc), _tensor(kc), _tensor(vc), _tensor(o)
            p.lse = lse.data_ptr()
        self._dims(p, B, Hq, Hkv, Nq, Nk, D, scale, mask)
        packed = self._seqs(p, seq, mask)
        self._dropout(p, dropout)
        self._bias(p, bias, Nq, Nk)
        grid_b, max_q = (packed[0], packed[1]) if packed else (B, Nq)
        p.batch = grid_b
        b = "bias_" if bias is not None else ""  # the kernels that read a bias are their own (ABI 6)
        H = self.kernel_hd(D)
        max_k = packed[2] if packed else Nk
        lo, hi = band(mask, Nq, Nk)
        windowed = lo + Nq - 1 > 0  # Visibility.hasLowerEdge
        every_key_seen = lo <= -(Nq - 1) and hi >= Nk - 1 and not seq  # CudaBackend.everyKeySeen
        form = "long_" if self.fwd_long(dt, H, max_k, bias is not None, windowed, every_key_seen) else ""
        name = f"flash_fwd_{form}{b}{dt}_hd{H}"
        if self.abi >= 10:
            p.row_tiles = self.row_tiles(name, max_q)
        if self.fwd_tma_loads[H] and self.tma != "never" and dt != "f32" and not seq:  # (persistent forwards only)
            p.tma_loads = self.encode_maps(D, ((qc, p.q_map), (kc, p.k_map), (vc, p.v_map)))
        # CudaBackend.queuedRowTiles: tiles of equal cost (every row sees every key, no sequences, no bias) always;
        # from ABI 11 (a queue) also tiles of unequal cost up to QUEUED_UNEVEN_MAX_KEYS keys
        even = p.vis_lo <= 1 - Nq and p.vis_hi >= Nk - 1 and not seq and bias is None
        self.launch(name, p, max_q, Hq, grid_b, queued=even or (self.abi >= 11 and max_k <= QUEUED_UNEVEN_MAX_KEYS))
        return o, lse

    def scratch(self, b, hq, nq, d):
        """The backward's float32 scratch for q of shape [b, hq, nq, d]: dq_accum (rows of the kernel head dim plus
        the fatbin's pad) and delta."""
        return (torch.empty(b, hq, nq, self.kernel_hd(d) + self.dq_accum_pad, device="cuda", dtype=torch.float32),
                torch.empty(b, hq, nq, device="cuda", dtype=torch.float32))

    def backward(self, do, q, k, v, o, lse, mask="none", scale=None, deterministic=False,
                 dq=None, dk=None, dv=None, scratch=None, compute=None, seq=None, dropout=None, bias=None,
                 bias_grad=False, stagger=None):
        B, Hq, Nq, D = q.shape
        Hkv, Nk = k.shape[1], k.shape[2]
        H = self.kernel_hd(D)
        scale = scale if scale is not None else 1.0 / math.sqrt(D)
        dq = torch.empty_like(q) if dq is None else dq
        dk = torch.empty_like(k) if dk is None else dk
        dv = torch.empty_like(v) if dv is None else dv
        if scratch is None:
            scratch = self.scratch(B, Hq, Nq, D)
        acc, delta = scratch
        # deterministic="ordered": ORDERED DQ (ABI 17) where the head dim's 16-bit kernel takes it (its conditions, as
        # CudaBackend's: no bias, no sequences, Q and dO copied by TMA), else the dq kernel's mode
        ordered = deterministic == "ordered" and self.abi >= 17 and self.dkdv_orders_dq[H] and bias is None \
            and not seq and self.bwd_tma_loads[H] and self.tma != "never" \
            and (compute == "bf16" or q.dtype in (torch.float16, torch.bfloat16))
        if ordered:
            deterministic = False  # the atomic mode's launches and accumulator (then deterministic = 2 below)
        if self.abi == 1:
            p = BwdParamsV1()
            p.q, p.k, p.v, p.o, p.dout, p.lse = (t.data_ptr() for t in (q, k, v, o, do, lse))
            p.dq, p.dk, p.dv, p.dq_accum, p.delta = (t.data_ptr() for t in (dq, dk, dv, acc, delta))
            for name, t in (("q", q), ("k", k), ("v", v), ("o", o), ("do", do), ("dq", dq), ("dk", dk), ("dv", dv)):
                for s, val in zip(("batch", "head", "row"), t.stride()[:3]):
                    setattr(p, f"{name}_{s}_stride", val)
            convert = not deterministic  # version 1 has an f32 convert kernel (the dq kernel twice)
            dt = DT[q.dtype]
        else:
            dt, (qc, kc, vc, doc) = self._operands(compute, q, k, v, do)
            p = (BwdParamsV18() if self.abi >= 18 else BwdParamsV17() if self.abi >= 17 else BwdParamsV14() if self.abi >= 14 else BwdParamsV13() if self.abi >= 13
                 else BwdParamsV6() if self.abi >= 6 else BwdParamsV5() if self.abi == 5
                 else BwdParamsV4() if self.abi == 4 else BwdParams())
            p.q, p.k, p.v, p.o, p.dout = (_tensor(t) for t in (qc, kc, vc, o, doc))
            p.dq, p.dk, p.dv = (_tensor(t) for t in (dq, dk, dv))
            convert = dq_through_accumulator(deterministic, (self.f32_dkdv_adds_dq if dt == "f32" else self.dkdv_adds_dq)[H])
            # version 9: no accumulator unless convert runs (the pre kernel zeroes a non-null one in the atomic mode)
            no_acc = not convert and self.abi >= 9
            p.lse, p.dq_accum, p.delta = lse.data_ptr(), 0 if no_acc else acc.data_ptr(), delta.data_ptr()
        self._dims(p, B, Hq, Hkv, Nq, Nk, D, scale, mask)
        p.deterministic = 2 if ordered else 1 if deterministic else 0
        if ordered:
            turns = torch.empty(B * Hq * ((Nq + 63) // 64), device="cuda", dtype=torch.int32)  # zeroed by pre
            p.dq_turns = turns.data_ptr()
            self._turns = turns  # alive until the next ordered call (the kernels run in stream order)
        packed = self._seqs(p, seq, mask)
        self._dropout(p, dropout)
        dbias = self._bias(p, bias, Nq, Nk, grad=bias_grad)
        grid_b, max_q, max_k = packed if packed else (B, Nq, Nk)
        p.batch = grid_b
        b = "bias_" if bias is not None else ""
        dkdv = f"flash_bwd_dkdv_{b}{dt}_hd{H}"
        if self.abi >= 18:
            # STAGGERED STARTS (ABI 18), the launcher's rule (DqMode.staggers): ORDERED DQ (whose conditions include
            # the kernel's: no bias, no sequences, 16-bit operands) where the band cuts nothing and all key tiles of a
            # head can be resident at once (one CTA per SM). stagger=True also staggers the atomic mode's walks (where
            # the kernel honours it: flash_params.h); stagger=False keeps every walk plain.
            if stagger is None:
                lo, hi = band(mask, Nq, Nk)
                stagger = ordered and lo <= 1 - Nq and hi >= Nk - 1 \
                    and self.row_tiles(dkdv, max_k) <= self.multiprocessors()
            p.stagger = 1 if stagger else 0
        elif stagger:
            raise ValueError("an ABI < 18 fatbin has no staggered starts")
        if self.abi >= 13 and self.bwd_tma_loads[H] and self.tma != "never" and dt != "f32" and not seq:
            maps = ((qc, p.q_map), (doc, p.dout_map)) + (((kc, p.k_map), (vc, p.v_map)) if self.abi >= 14 else ())
            p.tma_loads = self.encode_maps(D, maps)
        # pre and convert work on the tensors' rows (Z = the tensors' batch); dkdv and dq per sequence
        self.launch(f"flash_bwd_pre_{dt}_hd{H}", p, Nq, Hq, B)
        self.launch(dkdv, p, max_k, Hkv, grid_b)
        if convert:
            self.launch(f"flash_bwd_convert_{dt}_hd{H}", p, Nq, Hq, B)
        else:
            self.launch(f"flash_bwd_dq_{b}{dt}_hd{H}", p, max_q, Hq, grid_b)
        return (dq, dk, dv, dbias) if bias_grad else (dq, dk, dv)
