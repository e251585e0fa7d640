"""ctypes access to the flash-djl fatbin through libcuda, mirroring the Java launcher.

torch allocates the tensors and makes the primary context current; this module loads the fatbin
(cuModuleLoadData), reads each kernel's <name>_cfg[4] = {threads, tile_rows, dyn_smem, 0}
(cuModuleGetGlobal), raises the dynamic shared-memory limit when needed and launches on the
null stream with the param struct passed by value, exactly as io.flashdjl.cuda does.
"""
import ctypes as C
import math

import torch

MASK = {"none": 0, "tl": 1, "br": 2}
HDS = (32, 64, 96, 128, 256)
DT = {torch.float16: "f16", torch.bfloat16: "bf16", torch.float32: "f32"}


class FwdParams(C.Structure):
    _fields_ = [(n, C.c_void_p) for n in ("q", "k", "v", "o", "lse")] + \
               [(f"{t}_{s}_stride", C.c_int64) for t in ("q", "k", "v", "o") for s in ("batch", "head", "row")] + \
               [(n, C.c_int32) for n in ("batch", "heads_q", "heads_kv", "seqlen_q", "seqlen_k", "head_dim")] + \
               [("scale", C.c_float), ("scale_log2", C.c_float), ("mask", C.c_int32), ("pad0", C.c_int32)]


class BwdParams(C.Structure):
    _fields_ = [(n, C.c_void_p) for n in ("q", "k", "v", "o", "dout", "lse", "dq", "dk", "dv", "dq_accum", "delta")] + \
               [(f"{t}_{s}_stride", C.c_int64) for t in ("q", "k", "v", "o", "do", "dq", "dk", "dv")
                for s in ("batch", "head", "row")] + \
               [(n, C.c_int32) for n in ("batch", "heads_q", "heads_kv", "seqlen_q", "seqlen_k", "head_dim")] + \
               [("scale", C.c_float), ("scale_log2", C.c_float), ("mask", C.c_int32), ("deterministic", C.c_int32)]


assert C.sizeof(FwdParams) == 176 and C.sizeof(BwdParams) == 320


def _strides(t, layout):
    # returns (batch, head, row) element strides of a tensor given as [B, H, N, D] view
    s = t.stride()
    return s[0], s[1], s[2]


class Flash:
    def __init__(self, fatbin_path):
        torch.zeros(1, device="cuda")
        torch.cuda.synchronize()
        self.cu = C.CDLL("libcuda.so.1")
        self.mod = C.c_void_p()
        data = open(fatbin_path, "rb").read()
        self._data = C.create_string_buffer(data, len(data))
        self._ck(self.cu.cuModuleLoadData(C.byref(self.mod), self._data), "cuModuleLoadData")
        self.fns = {}

    def _ck(self, r, what):
        if r != 0:
            s = C.c_char_p()
            self.cu.cuGetErrorString(r, C.byref(s))
            raise RuntimeError(f"{what}: CUDA error {r} {s.value}")

    def fn(self, name):
        if name not in self.fns:
            f = C.c_void_p()
            self._ck(self.cu.cuModuleGetFunction(C.byref(f), self.mod, name.encode()), name)
            dptr, size = C.c_uint64(), C.c_size_t()
            self._ck(self.cu.cuModuleGetGlobal_v2(C.byref(dptr), C.byref(size), self.mod, (name + "_cfg").encode()),
                     name + "_cfg")
            assert size.value == 16
            cfg = (C.c_int * 4)()
            self._ck(self.cu.cuMemcpyDtoH_v2(cfg, dptr, C.c_size_t(16)), "cfg copy")
            cfg = list(cfg)
            if cfg[2] > 48 * 1024:
                self._ck(self.cu.cuFuncSetAttribute(f, 8, cfg[2]), "cuFuncSetAttribute")  # MAX_DYNAMIC_SHARED
            self.fns[name] = (f, cfg)
        return self.fns[name]

    def launch(self, name, params, n, heads, batch):
        f, (threads, rows, smem, _) = self.fn(name)
        arg = (C.c_void_p * 1)(C.cast(C.pointer(params), C.c_void_p))
        self._ck(self.cu.cuLaunchKernel(f, C.c_uint((n + rows - 1) // rows), C.c_uint(heads), C.c_uint(batch),
                                        C.c_uint(threads), C.c_uint(1), C.c_uint(1), C.c_uint(smem),
                                        None, arg, None), "launch " + name)

    @staticmethod
    def kernel_hd(d):
        for h in HDS:
            if d <= h:
                return h
        raise ValueError(d)

    # q, k, v, o are [B, H, N, D] views (BSHD tensors are passed as .transpose(1, 2): no copy)
    def forward(self, q, k, v, mask="none", scale=None, o=None, lse=None):
        B, Hq, Nq, D = q.shape
        Hkv, Nk = k.shape[1], k.shape[2]
        scale = scale if scale is not None else 1.0 / math.sqrt(D)
        if o is None:
            o = torch.empty_like(q)
        if lse is None:
            lse = torch.empty(B, Hq, Nq, device=q.device, dtype=torch.float32)
        p = FwdParams()
        p.q, p.k, p.v, p.o, p.lse = q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), lse.data_ptr()
        for name, t in (("q", q), ("k", k), ("v", v), ("o", o)):
            bs, hs, rs = _strides(t, None)
            setattr(p, f"{name}_batch_stride", bs); setattr(p, f"{name}_head_stride", hs)
            setattr(p, f"{name}_row_stride", rs)
        p.batch, p.heads_q, p.heads_kv, p.seqlen_q, p.seqlen_k, p.head_dim = B, Hq, Hkv, Nq, Nk, D
        p.scale, p.scale_log2, p.mask = scale, scale * math.log2(math.e), MASK[mask]
        H = self.kernel_hd(D)
        self.launch(f"flash_fwd_{DT[q.dtype]}_hd{H}", p, Nq, Hq, B)
        return o, lse

    def backward(self, do, q, k, v, o, lse, mask="none", scale=None, deterministic=False,
                 dq=None, dk=None, dv=None, scratch=None):
        B, Hq, Nq, D = q.shape
        Hkv, Nk = k.shape[1], k.shape[2]
        H = self.kernel_hd(D)
        scale = scale if scale is not None else 1.0 / math.sqrt(D)
        dq = torch.empty_like(q) if dq is None else dq
        dk = torch.empty_like(k) if dk is None else dk
        dv = torch.empty_like(v) if dv is None else dv
        if scratch is None:
            scratch = (torch.empty(B, Hq, Nq, H, device=q.device, dtype=torch.float32),
                       torch.empty(B, Hq, Nq, device=q.device, dtype=torch.float32))
        acc, delta = scratch
        p = BwdParams()
        p.q, p.k, p.v, p.o, p.dout, p.lse = q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), do.data_ptr(), lse.data_ptr()
        p.dq, p.dk, p.dv, p.dq_accum, p.delta = dq.data_ptr(), dk.data_ptr(), dv.data_ptr(), acc.data_ptr(), delta.data_ptr()
        for name, t in (("q", q), ("k", k), ("v", v), ("o", o), ("do", do), ("dq", dq), ("dk", dk), ("dv", dv)):
            bs, hs, rs = _strides(t, None)
            setattr(p, f"{name}_batch_stride", bs); setattr(p, f"{name}_head_stride", hs)
            setattr(p, f"{name}_row_stride", rs)
        p.batch, p.heads_q, p.heads_kv, p.seqlen_q, p.seqlen_k, p.head_dim = B, Hq, Hkv, Nq, Nk, D
        p.scale, p.scale_log2, p.mask = scale, scale * math.log2(math.e), MASK[mask]
        p.deterministic = 1 if deterministic else 0
        dt = DT[q.dtype]
        self.launch(f"flash_bwd_pre_{dt}_hd{H}", p, Nq, Hq, B)
        self.launch(f"flash_bwd_dkdv_{dt}_hd{H}", p, Nk, Hkv, B)
        if deterministic:
            self.launch(f"flash_bwd_dq_{dt}_hd{H}", p, Nq, Hq, B)
        else:
            self.launch(f"flash_bwd_convert_{dt}_hd{H}", p, Nq, Hq, B)
        return dq, dk, dv
