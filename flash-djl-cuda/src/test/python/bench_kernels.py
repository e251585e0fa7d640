"""Benchmark of the flash-djl bf16 kernels against torch SDPA (FLASH and CUDNN backends), and of
one fatbin against another (before / after a kernel change) in the same process.

usage: python3 bench_kernels.py FATBIN [BEFORE_FATBIN] [--d 64,128] [--n 512,1024,...] [--reps 20]
                                [--dtype bf16,f16,f32,f32bf16] [--rounds 2]

FlashAttention-3 paper shapes: B*N = 16384, H*d = 2048. FLOPs: forward 4*B*H*N*N*d (half with
causal), backward 2.5x forward. CUDA events, warm-up, median over the repetitions.
Backward times only the backward (ours: pre + dkdv + convert; torch: autograd.grad of a kept graph).
f32 runs the float32 FULL kernels (3xTF32), f32bf16 float32 data computed in bfloat16 (the casts included: what a
DJL model in float32 gets with Precision.BFLOAT16); SDPA's flash and cuDNN backends refuse float32, so its columns
are nan there (bench_precision.py sets them beside PyTorch's own float32 choice).
With BEFORE_FATBIN (of either kernel ABI, flash_ctypes.py), both fatbins run on the same inputs,
interleaved per shape (before, after, before, after, ... for --rounds rounds; each keeps its best round, against
clock drift), and a before/after table follows the SDPA one. Long causal shapes moved by +-5% between runs on one
H200 (PERF_LOG.md); more rounds narrow what a single pair of runs can suggest there.
Each timed call starts behind a ~50 us spin of the GPU, so that the events time the kernels and not the host's
Python before the launch (from 2026-12-01; BENCH_NO_SLEEP=1 times as before, when short calls carried that cost).
--before-tma never with the same fatbin twice times an ABI 12 forward's TMA copies against its own copier.
"""
import argparse
import math
import os

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from flash_ctypes import Flash


def fa3_shape(n, d):
    """(B, H) of the FlashAttention-3 paper shapes at sequence length n and head dim d: B*N = 16384, H*d = 2048
    (at least one sequence)."""
    return max(1, 16384 // n), 2048 // d


SDPA_BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION}  # the columns, in order
NO_SLEEP = os.environ.get("BENCH_NO_SLEEP") == "1"  # the timing before the spin below (for comparing the two)


def bench(fn, reps, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        # the GPU spins ~50 us first, so that the host's work before the launch (ctypes, torch's dispatch) is done
        # by the time the start event is reached: the events time the kernels alone, not the Python that queues them
        if not NO_SLEEP:
            torch.cuda._sleep(100_000)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    ts.sort()
    return ts[len(ts) // 2] * 1e-3


def time_ours(fl, q, k, v, do, mask, scale, reps, compute=None):
    """(fwd, bwd) seconds of one fatbin on these inputs (compute: flash_ctypes' compute dtype of float32 data)."""
    b, h, n, d = q.shape
    o, lse = fl.forward(q, k, v, mask, scale, compute=compute)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    scratch = fl.scratch(b, h, n, d)
    tf = bench(lambda: fl.forward(q, k, v, mask, scale, o=o, lse=lse, compute=compute), reps)
    tb = bench(lambda: fl.backward(do, q, k, v, o, lse, mask, scale, dq=dq, dk=dk, dv=dv, scratch=scratch,
                                   compute=compute), reps)
    return tf, tb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fatbin")
    ap.add_argument("before", nargs="?", help="a second fatbin, timed next to the first (before / after)")
    ap.add_argument("--d", default="64,128")
    ap.add_argument("--n", default="512,1024,2048,4096,8192,16384")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--dtype", default="bf16", help="bf16, f16, f32, f32bf16 (comma-separated)")
    ap.add_argument("--rounds", type=int, default=2, help="with BEFORE_FATBIN: before/after alternations per shape")
    ap.add_argument("--before-tma", choices=("auto", "never"),
                    help="the before fatbin's tensor maps (ABI 12; default: FLASH_TMA, else auto); with the same "
                         "fatbin twice and never, its kernels' own copies against their TMA copies")
    ap.add_argument("--before-form", choices=("long", "short"),
                    help="the before fatbin's forward form where a head dim has two (default: FLASH_FWD_FORM, else "
                         "the launcher's rule); with the same fatbin twice, one form against the other")
    a = ap.parse_args()
    fl = Flash(a.fatbin)
    old = Flash(a.before, tma=a.before_tma) if a.before else None
    if old and a.before_form:
        old.fwd_form = a.before_form
    if old:
        print(f"after: {a.fatbin} (ABI {fl.abi}), before: {a.before} (ABI {old.abi})")
    rows, pairs = [], []
    dtypes = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32, "f32bf16": torch.float32}
    for dname, d in ((x, int(y)) for x in a.dtype.split(",") for y in a.d.split(",")):
        dt = dtypes[dname]
        compute = "bf16" if dname == "f32bf16" else None
        for causal in (False, True):
            for n in map(int, a.n.split(",")):
                b, h = fa3_shape(n, d)
                q, k, v, do = (torch.randn(b, h, n, d, device="cuda", dtype=dt) for _ in range(4))
                scale = 1 / math.sqrt(d)
                mask = "tl" if causal else "none"
                fl_f = 4 * b * h * n * n * d / (2 if causal else 1)
                fl_b = 2.5 * fl_f
                res = {}
                if old:  # before, after, before, after, ...: the best round of each, against clock drift
                    runs = {"before": [], "ours": []}
                    for _ in range(max(1, a.rounds)):
                        runs["before"].append(time_ours(old, q, k, v, do, mask, scale, a.reps, compute))
                        runs["ours"].append(time_ours(fl, q, k, v, do, mask, scale, a.reps, compute))
                    for key, ts in runs.items():
                        res[key] = (min(t[0] for t in ts), min(t[1] for t in ts))
                else:
                    res["ours"] = time_ours(fl, q, k, v, do, mask, scale, a.reps, compute)
                for name, be in SDPA_BACKENDS.items():
                    if dt == torch.float32:  # neither backend takes float32
                        res[name] = (float("nan"), float("nan"))
                        continue
                    try:
                        with sdpa_kernel(be):
                            qq, kk, vv = (t.clone().requires_grad_(True) for t in (q, k, v))
                            tf = bench(lambda: F.scaled_dot_product_attention(qq, kk, vv, is_causal=causal, scale=scale), a.reps)
                            out = F.scaled_dot_product_attention(qq, kk, vv, is_causal=causal, scale=scale)
                            tb = bench(lambda: torch.autograd.grad(out, (qq, kk, vv), do, retain_graph=True), a.reps)
                        res[name] = (tf, tb)
                        del out
                    except Exception as ex:  # noqa
                        print(f"  {name} unavailable: {ex}")
                        res[name] = (float("nan"), float("nan"))
                tf = {k_: (fl_f / t[0] / 1e12, fl_b / t[1] / 1e12) for k_, t in res.items()}
                line = (dname, d, causal, n, tf["ours"], tf["flash"], tf["cudnn"])
                rows.append(line)
                if old:
                    pairs.append((dname, d, causal, n, tf["before"], tf["ours"]))
                print(f"{dname} d={d} causal={causal} N={n} B={b} H={h}: ours {tf['ours'][0]:.0f}/{tf['ours'][1]:.0f}  "
                      + (f"before {tf['before'][0]:.0f}/{tf['before'][1]:.0f}  " if old else "")
                      + f"flash {tf['flash'][0]:.0f}/{tf['flash'][1]:.0f}  cudnn {tf['cudnn'][0]:.0f}/{tf['cudnn'][1]:.0f} TFLOP/s",
                      flush=True)
                del q, k, v, do
                torch.cuda.empty_cache()
    print()
    print("| dtype | d | causal | N | ours fwd/bwd | SDPA flash fwd/bwd | SDPA cuDNN fwd/bwd | ours/flash fwd/bwd "
          "| ours/cuDNN fwd/bwd |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for dn, d, c, n, o, f, cu in rows:
        print(f"| {dn} | {d} | {'yes' if c else 'no'} | {n} | {o[0]:.0f} / {o[1]:.0f} | {f[0]:.0f} / {f[1]:.0f} | "
              f"{cu[0]:.0f} / {cu[1]:.0f} | {o[0] / f[0]:.2f} / {o[1] / f[1]:.2f} | {o[0] / cu[0]:.2f} / {o[1] / cu[1]:.2f} |")
    if pairs:
        print()
        print("| dtype | d | causal | N | before fwd/bwd | after fwd/bwd | after/before fwd | after/before bwd |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for dn, d, c, n, bf, af in pairs:
            print(f"| {dn} | {d} | {'yes' if c else 'no'} | {n} | {bf[0]:.0f} / {bf[1]:.0f} | {af[0]:.0f} / {af[1]:.0f} | "
                  f"{af[0] / bf[0]:.3f} | {af[1] / bf[1]:.3f} |")
        rf = [af[0] / bf[0] for *_, bf, af in pairs]
        rb = [af[1] / bf[1] for *_, bf, af in pairs]
        print(f"\nafter/before: fwd {min(rf):.3f}-{max(rf):.3f} (mean {sum(rf) / len(rf):.3f}), "
              f"bwd {min(rb):.3f}-{max(rb):.3f} (mean {sum(rb) / len(rb):.3f})")


if __name__ == "__main__":
    main()
