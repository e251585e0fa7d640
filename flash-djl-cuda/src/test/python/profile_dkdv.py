"""One forward and one backward at a given shape, for a profiler to capture the kernels (developer tool):

    ncu --clock-control none -k regex:flash_bwd_dkdv --launch-count 1 --section SpeedOfLight \\
        python3 profile_dkdv.py FATBIN [--d 128] [--n 16384] [--causal] [--deterministic] [--alibi] [--sdpa cudnn]

bf16 (or --dtype float32: the float32 FULL kernels, 3xTF32), FlashAttention-3 paper shapes (B*N = 16k, H*d = 2048), the
atomic backward unless --deterministic. --alibi adds bench_bias.py's ALiBi bias ([1, H, N, N] in the data's dtype,
every tile read), so that the _bias kernels run. --sdpa cudnn (or flash) runs torch's SDPA on that backend instead,
at the same shape, so that the profiler can set its kernels beside ours (the fatbin is then not loaded).
"""
import argparse
import math

import torch

from bench_bias import masks
from bench_kernels import SDPA_BACKENDS, fa3_shape
from flash_ctypes import Flash


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fatbin")
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--n", type=int, default=16384)
    ap.add_argument("--causal", action="store_true")
    ap.add_argument("--deterministic", action="store_true")
    ap.add_argument("--alibi", action="store_true")
    ap.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    ap.add_argument("--sdpa", choices=sorted(SDPA_BACKENDS))
    a = ap.parse_args()
    b, h = fa3_shape(a.n, a.d)
    dtype = getattr(torch, a.dtype)
    q, k, v, do = (torch.randn(b, h, a.n, a.d, device="cuda", dtype=dtype) for _ in range(4))
    if a.sdpa:
        sdpa(a, q, k, v, do)
        return
    fl = Flash(a.fatbin)
    mask = "tl" if a.causal else "none"
    bias = fl.prepare_bias(masks("alibi", b, h, a.n, None).to(dtype), a.n, a.n) if a.alibi else None
    o, lse = fl.forward(q, k, v, mask, 1 / math.sqrt(a.d), bias=bias)
    fl.backward(do, q, k, v, o, lse, mask, 1 / math.sqrt(a.d), deterministic=a.deterministic, bias=bias)
    torch.cuda.synchronize()


def sdpa(a, q, k, v, do):
    from torch.nn.attention import sdpa_kernel
    q, k, v = (x.requires_grad_() for x in (q, k, v))
    with sdpa_kernel(SDPA_BACKENDS[a.sdpa]):
        o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=a.causal)
        o.backward(do)
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
