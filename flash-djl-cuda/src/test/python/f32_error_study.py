"""Developer tool: the float32 kernels' error over many seeds, against twice PyTorch's float32 error (the rule of
every check), at small shapes like the GPU decoder test's (needs a CUDA GPU and torch).

usage: python3 f32_error_study.py FATBIN [--seeds 300] [--d 32,64,128] [--n 77] [--first-seed 0] [--max-median 2]

Per head dim: B = 2, 4 query heads on 2 kv heads, N x N causal (top-left), float32 data at full precision (the
3xTF32 kernels on sm_90a, else SIMT). For each seed and each of O, dQ, dK, dV: ours = max |ours - float64|, base =
the same of torch SDPA in float32 (check_kernels.torch_baseline), and the ratio ours / base. Prints, per output, how
many seeds exceed the budget (check_kernels.budget: 2 x base + floor + rounding) and the ratio's median, 99th
percentile and maximum with its seed, so that a failing seed of a larger test can be placed.

--max-median R: exit with status 1 when a median ratio exceeds R (the rule's 2x, applied where one seed's luck does
not decide it: on a single seed even plain float32 FMA kernels reach 2.4x, because PyTorch's own error is sometimes
small). The 3xTF32 kernels' medians were 1.5-2.6x at d = 32 while their accumulation truncated, 0.8-1.5x since.
"""
import argparse
import math

import torch

import check_kernels as ck
from flash_ctypes import Flash


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fatbin")
    ap.add_argument("--seeds", type=int, default=300)
    ap.add_argument("--d", default="32,64,128")
    ap.add_argument("--n", type=int, default=77)
    ap.add_argument("--first-seed", type=int, default=0)  # seeds first-seed .. first-seed + seeds - 1
    ap.add_argument("--max-median", type=float, default=None)
    a = ap.parse_args()
    too_high = []
    fl = Flash(a.fatbin)
    print(f"device {torch.cuda.get_device_name()}; torch {torch.__version__}; seeds {a.first_seed}..{a.first_seed + a.seeds - 1}")
    print("| d | output | over budget | ratio median | ratio p99 | ratio max (seed) | worst err/budget |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    names = ("o", "dq", "dk", "dv")
    for D in (int(x) for x in a.d.split(",")):
        scale = 1 / math.sqrt(D)
        ratios = {n: [] for n in names}
        over = {n: 0 for n in names}
        worst = {n: 0.0 for n in names}
        for seed in range(a.first_seed, a.first_seed + a.seeds):
            torch.manual_seed(seed)
            q = ck.make(2, 4, a.n, D, torch.float32, "bhsd")
            k, v = (ck.make(2, 2, a.n, D, torch.float32, "bhsd") for _ in range(2))
            do = ck.make(2, 4, a.n, D, torch.float32, "bhsd")
            o, lse = fl.forward(q, k, v, "tl", scale)
            dq, dk, dv = fl.backward(do, q, k, v, o, lse, "tl", scale)
            ref = ck.reference(q, k, v, do, "tl", scale)
            base = ck.torch_baseline(q, k, v, do, "tl", scale)
            for n, ours, r, b in zip(names, (o, dq, dk, dv), (ref[0], ref[2], ref[3], ref[4]),
                                     (base[0], base[2], base[3], base[4])):
                e, eb = ck.maxerr(ours, r), ck.maxerr(b, r)
                ratios[n].append((e / eb if eb > 0 else float("inf"), seed))
                t = ck.budget(eb, r, torch.float32)
                over[n] += not (e <= t)
                worst[n] = max(worst[n], e / t)
        for n in names:
            rs = sorted(ratios[n])
            med, p99, mx = rs[len(rs) // 2][0], rs[min(len(rs) - 1, int(0.99 * len(rs)))][0], rs[-1]
            print(f"| {D} | {n} | {over[n]} of {a.seeds} | {med:.2f} | {p99:.2f} | {mx[0]:.2f} ({mx[1]}) | {worst[n]:.2f} |",
                  flush=True)
            if a.max_median is not None and not med <= a.max_median:
                too_high.append(f"d = {D} {n}: median {med:.2f} > {a.max_median}")
    if too_high:
        print("FAIL " + "; ".join(too_high))
        raise SystemExit(1)
    if a.max_median is not None:
        print(f"ok: every median ratio <= {a.max_median}")


if __name__ == "__main__":
    main()
