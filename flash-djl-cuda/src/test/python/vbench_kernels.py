"""Variant sweep (developer tool): time our bf16 fwd/bwd for several single-head-dim builds
(cubins built with -DFLASH_ONLY_HD=H -DFLASH_ONLY_BF16, each from its own edit of flash_tiles.h) in one
device call, with a quick bf16 correctness check of each and SDPA FLASH as the reference.

usage: python3 vbench_kernels.py NAME:HD:PATH [...]
"""
import math
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

import check_kernels as ck
from bench_kernels import bench, fa3_shape
from flash_ctypes import Flash

SHAPES = [(16384, False), (16384, True), (2048, False), (1024, True)]


def flops(n, d, causal):
    b, h = fa3_shape(n, d)
    return 4 * b * h * n * n * d / (2 if causal else 1)


def inputs(n, d):
    b, h = fa3_shape(n, d)
    torch.manual_seed(1)
    return [torch.randn(b, h, n, d, device="cuda", dtype=torch.bfloat16) for _ in range(4)]


def main():
    rows = []
    ref = {}
    for spec in sys.argv[1:]:
        name, hd, path = spec.split(":")
        d = int(hd)
        fl = Flash(path)
        bad = 0
        for shape in ck.SHAPES[1::2]:
            try:
                b_, _ = ck.run_case(fl, torch.bfloat16, d, shape, "bhsd")
            except Exception as ex:  # noqa
                b_ = [str(ex)]
            bad += bool(b_)
            if b_:
                print(f"  {name} FAIL {shape}: {b_}", flush=True)
        for n, causal in SHAPES:
            q, k, v, do = inputs(n, d)
            mask, scale = ("tl" if causal else "none"), 1 / math.sqrt(d)
            o, lse = fl.forward(q, k, v, mask, scale)
            dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
            scratch = fl.scratch(*q.shape[:3], d)
            tf = bench(lambda: fl.forward(q, k, v, mask, scale, o=o, lse=lse), 20)
            tb = bench(lambda: fl.backward(do, q, k, v, o, lse, mask, scale, dq=dq, dk=dk, dv=dv, scratch=scratch), 20)
            if (n, d, causal) not in ref:
                with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                    qq, kk, vv = (t.clone().requires_grad_(True) for t in (q, k, v))
                    rf = bench(lambda: F.scaled_dot_product_attention(qq, kk, vv, is_causal=causal, scale=scale), 20)
                    out = F.scaled_dot_product_attention(qq, kk, vv, is_causal=causal, scale=scale)
                    rb = bench(lambda: torch.autograd.grad(out, (qq, kk, vv), do, retain_graph=True), 20)
                    del out, qq, kk, vv
                ref[(n, d, causal)] = (rf, rb)
            rf, rb = ref[(n, d, causal)]
            fF = flops(n, d, causal)
            line = (name, d, causal, n, fF / tf / 1e12, 2.5 * fF / tb / 1e12, rf / tf, rb / tb, bad)
            rows.append(line)
            print("%s d=%d causal=%s N=%d: fwd %.0f bwd %.0f TFLOP/s, vs flash %.2f / %.2f, bad=%d" % line, flush=True)
            del q, k, v, do, o, lse, dq, dk, dv, scratch
            torch.cuda.empty_cache()
    print()
    print("| variant | d | causal | N | fwd | bwd | fwd/flash | bwd/flash | bad cases |")
    for r in rows:
        print("| %s | %d | %s | %d | %.0f | %.0f | %.2f | %.2f | %d |" % r)


if __name__ == "__main__":
    main()
