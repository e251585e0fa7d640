"""The deterministic backward against the atomic one, bf16 (or float32 at full precision), FlashAttention-3 paper
shapes (developer tool, needs a CUDA GPU and torch).

usage: python3 bench_deterministic.py FATBIN [--d 64,96,128,256] [--n 1024,4096,16384] [--reps 10] [--dtype f32]
                                     [--bias docs,alibi --seed N]

The atomic backward adds each key tile's dQ into a float32 buffer with reductions (order varies from run to
run); the deterministic one computes dQ in a kernel of its own, one CTA per query tile. Both include the
pre and convert passes; CUDA events, warm-up, median (bench_kernels.bench). FLOPs: 2.5 x the forward's.
--bias adds rows with bench_bias.py's masks (key-pad, docs, alibi) as a score bias, without the causal band; FLOPs
count the full N x N, as bench_bias.py does.
"""
import argparse
import math
import random

import torch

from bench_bias import masks
from bench_kernels import bench, fa3_shape
from flash_ctypes import Flash


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fatbin")
    ap.add_argument("--d", default="64,96,128,256")
    ap.add_argument("--n", default="1024,4096,16384")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--dtype", choices=("bf16", "f32"), default="bf16")
    ap.add_argument("--bias", default="")
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    seed = a.seed if a.seed is not None else random.randrange(2**31)
    rng = random.Random(seed)
    fl = Flash(a.fatbin)
    print(f"{a.dtype}; {torch.cuda.get_device_name()}; masks' seed {seed}")
    print("| d | causal or bias | N | atomic bwd TFLOP/s | deterministic bwd TFLOP/s | deterministic / atomic |")
    print("| --- | --- | --- | --- | --- | --- |")
    kinds = ["no", "yes"] + [k for k in a.bias.split(",") if k]
    for d in map(int, a.d.split(",")):
        for kind in kinds:
            for n in map(int, a.n.split(",")):
                b, h = fa3_shape(n, d)
                q, k, v, do = (torch.randn(b, h, n, d, device="cuda", dtype=dtype) for _ in range(4))
                mask, scale = ("tl" if kind == "yes" else "none"), 1 / math.sqrt(d)
                prep = None
                if kind not in ("no", "yes"):
                    m = masks(kind, b, h, n, rng)
                    prep = fl.prepare_bias(m.to(dtype) if m.is_floating_point() else m, n, n)
                o, lse = fl.forward(q, k, v, mask, scale, bias=prep)
                g = tuple(torch.empty_like(t) for t in (q, k, v))
                scr = fl.scratch(b, h, n, d)
                t = {}
                for det in (False, True):
                    t[det] = bench(lambda: fl.backward(do, q, k, v, o, lse, mask, scale, deterministic=det, dq=g[0],
                                                       dk=g[1], dv=g[2], scratch=scr, bias=prep), a.reps)
                flops = 2.5 * 4 * b * h * n * n * d / (2 if kind == "yes" else 1)
                ta, td = flops / t[False] / 1e12, flops / t[True] / 1e12
                print(f"| {d} | {kind} | {n} | {ta:.0f} | {td:.0f} | {td / ta:.2f} |", flush=True)
                del q, k, v, do, o, lse, g, scr, prep
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
