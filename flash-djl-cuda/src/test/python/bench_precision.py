"""Benchmark of the float32-data paths (issue 11's kernel bars), all in one process on one GPU.

usage: python3 bench_precision.py FATBIN [--d 64,128] [--n 1024,2048,4096,8192,16384] [--reps 20]
       [--full-max-n 4096]

FlashAttention-3 paper shapes: B*N = 16384, H*d = 2048; TFLOP/s count forward 4*B*H*N*N*d (half
with causal), backward 2.5x forward. CUDA events, 3 warm-ups, median. Backward times only the
backward (ours: its casts + pre + dkdv + convert; torch: autograd.grad of a kept graph).

Columns, forward / backward:
  f32bf16   ours, float32 data, bfloat16 compute (compute="bf16"), the casts included
  bf16      ours, bfloat16 data
  cudnn     SDPA's cuDNN kernel, bfloat16 data
  f32       ours, float32 data, full precision (up to --full-max-n: the float32 kernels are slow)
  sdpa32    torch.nn.functional.scaled_dot_product_attention on float32 data (PyTorch's choice)
Bars (issue 11): f32bf16 >= 0.9x bf16 and >= 0.8x cudnn; f32 >= 3x sdpa32.
"""
import argparse
import math

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from bench_kernels import bench, fa3_shape, time_ours
from flash_ctypes import Flash


def time_sdpa(q, k, v, do, causal, scale, reps, backend=None):
    qq, kk, vv = (t.clone().requires_grad_(True) for t in (q, k, v))
    run = lambda: F.scaled_dot_product_attention(qq, kk, vv, is_causal=causal, scale=scale)  # noqa: E731
    if backend is None:
        tf = bench(run, reps)
        out = run()
        tb = bench(lambda: torch.autograd.grad(out, (qq, kk, vv), do, retain_graph=True), reps)
    else:
        with sdpa_kernel(backend):
            tf = bench(run, reps)
            out = run()
            tb = bench(lambda: torch.autograd.grad(out, (qq, kk, vv), do, retain_graph=True), reps)
    return tf, tb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fatbin")
    ap.add_argument("--d", default="64,128")
    ap.add_argument("--n", default="1024,2048,4096,8192,16384")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--full-max-n", type=int, default=4096)
    a = ap.parse_args()
    fl = Flash(a.fatbin)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
          f"float32 matmul precision {torch.get_float32_matmul_precision()}", flush=True)
    rows = []
    for d in map(int, a.d.split(",")):
        for causal in (False, True):
            for n in map(int, a.n.split(",")):
                b, h = fa3_shape(n, d)
                scale = 1 / math.sqrt(d)
                mask = "tl" if causal else "none"
                fl_f = 4 * b * h * n * n * d / (2 if causal else 1)
                fl_b = 2.5 * fl_f
                res = {}
                q, k, v, do = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float32) for _ in range(4))
                res["f32bf16"] = time_ours(fl, q, k, v, do, mask, scale, a.reps, compute="bf16")
                slow = n > a.full_max_n
                res["f32"] = (float("nan"),) * 2 if slow else time_ours(fl, q, k, v, do, mask, scale, max(3, a.reps // 4))
                res["sdpa32"] = time_sdpa(q, k, v, do, causal, scale, a.reps)
                qb, kb, vb, dob = (t.to(torch.bfloat16) for t in (q, k, v, do))
                del q, k, v, do
                res["bf16"] = time_ours(fl, qb, kb, vb, dob, mask, scale, a.reps)
                res["cudnn"] = time_sdpa(qb, kb, vb, dob, causal, scale, a.reps, SDPBackend.CUDNN_ATTENTION)
                del qb, kb, vb, dob
                torch.cuda.empty_cache()
                tf = {k_: (fl_f / t[0] / 1e12, fl_b / t[1] / 1e12) for k_, t in res.items()}
                rows.append((d, causal, n, tf))
                print(f"d={d} causal={causal} N={n} B={b} H={h}: " + "  ".join(
                    f"{k_} {t[0]:.0f}/{t[1]:.0f}" for k_, t in tf.items()) + " TFLOP/s", flush=True)
    cols = ("f32bf16", "bf16", "cudnn", "f32", "sdpa32")
    print()
    print("| d | causal | N | " + " | ".join(f"{c} fwd / bwd" for c in cols)
          + " | f32bf16/bf16 | f32bf16/cudnn | f32/sdpa32 |")
    print("| --- " * (3 + len(cols) + 3) + "|")
    for d, c, n, tf in rows:
        r = lambda x, y: f"{tf[x][0] / tf[y][0]:.2f} / {tf[x][1] / tf[y][1]:.2f}"  # noqa: E731
        print(f"| {d} | {'yes' if c else 'no'} | {n} | "
              + " | ".join(f"{tf[c_][0]:.0f} / {tf[c_][1]:.0f}" for c_ in cols)
              + f" | {r('f32bf16', 'bf16')} | {r('f32bf16', 'cudnn')} | {r('f32', 'sdpa32')} |")


if __name__ == "__main__":
    main()
