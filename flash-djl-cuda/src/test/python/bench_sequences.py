"""Benchmark of sequences in the kernels: a padded batch with per-row valid lengths, and the same tokens
packed (varlen), against the same kernels on the unpadded problem, and SDPA's own choice with the
padding as a boolean attn_mask (developer tool, needs a CUDA GPU and torch).

usage: python3 bench_sequences.py FATBIN [--d 64,128] [--n 1024,...] [--padding 0.3] [--reps 20] [--seed N]

FlashAttention-3 paper shapes (B*N = 16384, H*d = 2048), bf16. Each batch row gets a valid length drawn
uniformly from [(1 - 2p) N, N] (mean (1 - p) N; p = --padding) for queries and keys alike. Work is counted
as the FlashAttention papers do, over the visible pairs only (sum over rows of len^2; half with causal):
"TFLOP/s" below is that work over the time, so a kernel that skips padding well keeps the unmasked
figure. The bar of issue 12: padded >= 0.95x unmasked TFLOP/s. CUDA events, warm-up, median.
"""
import argparse
import math
import random

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from bench_kernels import bench, fa3_shape
from flash_ctypes import Flash


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fatbin")
    ap.add_argument("--d", default="64,128")
    ap.add_argument("--n", default="1024,2048,4096,8192,16384")
    ap.add_argument("--padding", type=float, default=0.3)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(2**31)
    print(f"seed={seed} (replay with --seed {seed}); device {torch.cuda.get_device_name()}; torch {torch.__version__}")
    rng = random.Random(seed)
    fl = Flash(a.fatbin)
    dt = torch.bfloat16
    rows = []
    for d in map(int, a.d.split(",")):
        for n in map(int, a.n.split(",")):
            for causal in (False, True):
                B, H = fa3_shape(n, d)
                lens = [rng.randint(int((1 - 2 * a.padding) * n), n) for _ in range(B)]
                mask = "tl" if causal else "none"
                scale = 1 / math.sqrt(d)
                q, k, v, do = (torch.randn(B, H, n, d, device="cuda", dtype=dt) for _ in range(4))
                work = sum(x * x for x in lens) * H * 4 * d * (0.5 if causal else 1.0)  # fwd FLOPs, visible pairs
                full_work = B * n * n * H * 4 * d * (0.5 if causal else 1.0)
                L = torch.tensor(lens, dtype=torch.int32, device="cuda")
                padded = {"q_lengths": L, "k_lengths": L}
                offs = torch.tensor([0] + list(torch.tensor(lens).cumsum(0).tolist()), dtype=torch.int32, device="cuda")
                T = int(offs[-1])
                pq, pk, pv, pdo = (torch.randn(1, H, T, d, device="cuda", dtype=dt) for _ in range(4))
                packed = {"q_offsets": offs, "k_offsets": offs, "max_q": max(lens), "max_k": max(lens)}

                res = {}
                for name, (qq, kk, vv, dd, seq) in (("unmasked", (q, k, v, do, None)), ("padded", (q, k, v, do, padded)),
                                                    ("packed", (pq, pk, pv, pdo, packed))):
                    b_, _, n_, _ = qq.shape
                    o, lse = fl.forward(qq, kk, vv, mask, scale, seq=seq)
                    grads = tuple(torch.empty_like(t) for t in (qq, kk, vv))
                    scratch = fl.scratch(b_, H, n_, d)
                    tf = bench(lambda: fl.forward(qq, kk, vv, mask, scale, o=o, lse=lse, seq=seq), a.reps)
                    tb = bench(lambda: fl.backward(dd, qq, kk, vv, o, lse, mask, scale, dq=grads[0], dk=grads[1],
                                                   dv=grads[2], scratch=scratch, seq=seq), a.reps)
                    w = full_work if name == "unmasked" else work
                    res[name] = (w / tf / 1e12, 2.5 * w / tb / 1e12, tf, tb)
                # SDPA's own choice with the padding as a boolean mask (key and query padding, causal inside)
                idx = torch.arange(n, device="cuda")
                valid = idx[None, :] < L[:, None]
                m = valid[:, None, :, None] & valid[:, None, None, :]
                if causal:
                    m = m & (idx[None, None, None, :] <= idx[None, None, :, None])
                m = m | ~m.any(-1, keepdim=True)  # rows without keys: any key (their output is ignored)
                qq, kk, vv = (t.clone().requires_grad_(True) for t in (q, k, v))
                tf = bench(lambda: F.scaled_dot_product_attention(qq, kk, vv, attn_mask=m, scale=scale), a.reps)
                out = F.scaled_dot_product_attention(qq, kk, vv, attn_mask=m, scale=scale)
                tb = bench(lambda: torch.autograd.grad(out, (qq, kk, vv), do, retain_graph=True), a.reps)
                res["sdpa-mask"] = (work / tf / 1e12, 2.5 * work / tb / 1e12, tf, tb)
                rows.append((d, n, causal, res))
                r = res
                print(f"d={d:3d} N={n:5d} {'causal' if causal else 'full  '} "
                      + " ".join(f"{k}: {v[0]:5.0f}/{v[1]:5.0f}" for k, v in r.items())
                      + f"  padded/unmasked fwd {r['padded'][0] / r['unmasked'][0]:.2f} bwd {r['padded'][1] / r['unmasked'][1]:.2f}",
                      flush=True)
    print("\nTFLOP/s over visible pairs (fwd / bwd); ratio = padded (or packed) / unmasked")
    print("| d | N | causal | unmasked | padded | packed | SDPA + bool mask | padded/unmasked | packed/unmasked |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for d, n, causal, r in rows:
        f = lambda k: f"{r[k][0]:.0f} / {r[k][1]:.0f}"
        rat = lambda k: f"{r[k][0] / r['unmasked'][0]:.2f} / {r[k][1] / r['unmasked'][1]:.2f}"
        print(f"| {d} | {n} | {'yes' if causal else 'no'} | {f('unmasked')} | {f('padded')} | {f('packed')} | "
              f"{f('sdpa-mask')} | {rat('padded')} | {rat('packed')} |")


if __name__ == "__main__":
    main()
