"""Benchmark of the score bias and of sliding windows in the kernels, against SDPA's own choice with the
same attn_mask (developer tool, needs a CUDA GPU and torch).

usage: python3 bench_bias.py FATBIN [--d 64,128] [--n 1024,...] [--window-n 16384] [--reps 20] [--seed N]
       [--dtype bfloat16|float32]

FlashAttention-3 paper shapes (B*N = 16384, H*d = 2048), bf16 (or float32: the FULL kernels, and the float bias in
float32), CUDA events, warm-up, median. Masks:
  key-pad   bool [B, 1, 1, N]: each batch row keeps its first len keys, len uniform in [0.4 N, N]
            (the padding-like mask of issue 12's bar);
  docs      bool [B, 1, N, N]: block-diagonal, documents of 256 .. N/2 tokens (whole tiles hidden);
  alibi     bfloat16 [1, H, N, N]: -slope_h * |i - j| (no tile hidden, every element read);
  alibi+grad  the same with its gradient (the backward also writes dBias, summed over the batch).
TFLOP/s counts the full N x N (4 N^2 d per head forward, 2.5x that backward), as the issue's bar does;
the ratio column is ours / SDPA's time. Then sliding windows: causal with the last W keys (W = 1024) at
N = --window-n, against the same kernels unmasked, TFLOP/s counted over the visible pairs and over the
visible 128 x 128 tiles (the issue's bar: >= 0.85x the unmasked TFLOP/s, counting visible tiles);
--window-n 0 leaves the windows out.
"""
import argparse
import math
import random

import torch
import torch.nn.functional as F

from bench_kernels import bench, fa3_shape
from flash_ctypes import Flash


def masks(kind, B, H, n, rng):
    idx = torch.arange(n, device="cuda")
    if kind == "key-pad":
        lens = torch.tensor([rng.randint(int(0.4 * n), n) for _ in range(B)], device="cuda")
        return (idx[None, :] < lens[:, None])[:, None, None, :]
    if kind == "docs":
        m = torch.zeros(B, 1, n, n, dtype=torch.bool, device="cuda")
        for b in range(B):
            start = 0
            while start < n:
                end = min(n, start + rng.randint(256, max(256, n // 2)))
                m[b, 0, start:end, start:end] = True
                start = end
        return m
    slopes = torch.tensor([2.0 ** (-8.0 * (h + 1) / H) for h in range(H)], device="cuda")
    return (-slopes[:, None, None] * (idx[None, :, None] - idx[None, None, :]).abs()).to(torch.bfloat16)[None]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fatbin")
    ap.add_argument("--d", default="64,128")
    ap.add_argument("--n", default="1024,2048,4096,8192")
    ap.add_argument("--window-n", type=int, default=16384)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(2**31)
    print(f"seed={seed} (replay with --seed {seed}); device {torch.cuda.get_device_name()}; torch {torch.__version__}; {a.dtype}")
    rng = random.Random(seed)
    fl = Flash(a.fatbin)
    dt = getattr(torch, a.dtype)
    rows = []
    for d in map(int, a.d.split(",")):
        for n in map(int, a.n.split(",")):
            B, H = fa3_shape(n, d)
            scale = 1 / math.sqrt(d)
            q, k, v, do = (torch.randn(B, H, n, d, device="cuda", dtype=dt) for _ in range(4))
            work = B * H * n * n * 4 * d
            grads = tuple(torch.empty_like(t) for t in (q, k, v))
            scratch = fl.scratch(B, H, n, d)
            res = {}
            o, lse = fl.forward(q, k, v, "none", scale)
            tf = bench(lambda: fl.forward(q, k, v, "none", scale, o=o, lse=lse), a.reps)
            tb = bench(lambda: fl.backward(do, q, k, v, o, lse, "none", scale, dq=grads[0], dk=grads[1], dv=grads[2],
                                           scratch=scratch), a.reps)
            res["unmasked"] = (tf, tb, None, None)
            for kind in ("key-pad", "docs", "alibi", "alibi+grad"):
                m = masks(kind.split("+")[0], B, H, n, rng)
                m = m.to(dt) if m.is_floating_point() else m
                grad = kind.endswith("grad")
                prep = fl.prepare_bias(m, n, n)  # the summary, made once per mask (outside the timing)
                o, lse = fl.forward(q, k, v, "none", scale, bias=prep)
                tf = bench(lambda: fl.forward(q, k, v, "none", scale, o=o, lse=lse, bias=prep), a.reps)
                tb = bench(lambda: fl.backward(do, q, k, v, o, lse, "none", scale, dq=grads[0], dk=grads[1],
                                               dv=grads[2], scratch=scratch, bias=prep, bias_grad=grad), a.reps)
                # SDPA's own choice with the same attn_mask (rows without keys: none here)
                qq, kk, vv = (t.clone().requires_grad_(True) for t in (q, k, v))
                mm = m.clone().requires_grad_(grad)
                sf = bench(lambda: F.scaled_dot_product_attention(qq, kk, vv, attn_mask=mm, scale=scale), a.reps)
                out = F.scaled_dot_product_attention(qq, kk, vv, attn_mask=mm, scale=scale)
                ins = (qq, kk, vv, mm) if grad else (qq, kk, vv)
                sb = bench(lambda: torch.autograd.grad(out, ins, do, retain_graph=True), a.reps)
                res[kind] = (tf, tb, sf, sb)
                del out, qq, kk, vv, mm, prep
            rows.append((d, n, work, res))
            print(f"d={d:3d} N={n:5d} " + " ".join(
                f"{k}: {work / r[0] / 1e12:4.0f}/{2.5 * work / r[1] / 1e12:4.0f}"
                + (f" (sdpa {work / r[2] / 1e12:4.0f}/{2.5 * work / r[3] / 1e12:4.0f})" if r[2] else "")
                for k, r in res.items()), flush=True)
    print("\nTFLOP/s over the full N x N (fwd / bwd); ratio = SDPA time / ours")
    print("| d | N | mask | ours | SDPA | ours/SDPA fwd | ours/SDPA bwd | ours/unmasked |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for d, n, work, res in rows:
        u = res["unmasked"]
        for kind, (tf, tb, sf, sb) in res.items():
            if kind == "unmasked":
                continue
            print(f"| {d} | {n} | {kind} | {work / tf / 1e12:.0f} / {2.5 * work / tb / 1e12:.0f} | "
                  f"{work / sf / 1e12:.0f} / {2.5 * work / sb / 1e12:.0f} | {sf / tf:.2f} | {sb / tb:.2f} | "
                  f"{u[0] / tf:.2f} / {u[1] / tb:.2f} |")

    n, W = a.window_n, 1024
    if n <= 0:
        return
    print(f"\nsliding window: causal, the last {W} keys, N = {n}")
    print("| d | unmasked | window (pairs) | window (tiles) | pairs ratio | tiles ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    pairs = sum(min(i + 1, W) for i in range(n))
    T = 128
    tiles = sum(1 for i in range(0, n, T) for j in range(0, n, T) if j <= i + T - 1 and j + T - 1 >= i - W + 1)
    for d in map(int, a.d.split(",")):
        B, H = fa3_shape(n, d)
        scale = 1 / math.sqrt(d)
        q, k, v, do = (torch.randn(B, H, n, d, device="cuda", dtype=dt) for _ in range(4))
        grads = tuple(torch.empty_like(t) for t in (q, k, v))
        scratch = fl.scratch(B, H, n, d)
        out = {}
        for name, mask in (("unmasked", "none"), ("window", (-(W - 1), 0))):
            o, lse = fl.forward(q, k, v, mask, scale)
            tf = bench(lambda: fl.forward(q, k, v, mask, scale, o=o, lse=lse), a.reps)
            tb = bench(lambda: fl.backward(do, q, k, v, o, lse, mask, scale, dq=grads[0], dk=grads[1], dv=grads[2],
                                           scratch=scratch), a.reps)
            out[name] = (tf, tb)
        per = B * H * 4 * d
        uf, ub = per * n * n / out["unmasked"][0] / 1e12, 2.5 * per * n * n / out["unmasked"][1] / 1e12
        pf, pb = per * pairs / out["window"][0] / 1e12, 2.5 * per * pairs / out["window"][1] / 1e12
        tw = tiles * T * T
        wf, wb = per * tw / out["window"][0] / 1e12, 2.5 * per * tw / out["window"][1] / 1e12
        print(f"| {d} | {uf:.0f} / {ub:.0f} | {pf:.0f} / {pb:.0f} | {wf:.0f} / {wb:.0f} | {pf / uf:.2f} / {pb / ub:.2f}"
              f" | {wf / uf:.2f} / {wb / ub:.2f} |", flush=True)


if __name__ == "__main__":
    main()
