"""The deterministic backward against the atomic one, bf16 (or fp16, or float32 at full precision), FlashAttention-3
paper shapes (developer tool, needs a CUDA GPU and torch).

usage: python3 bench_deterministic.py FATBIN [--d 64,96,128,256] [--n 1024,4096,16384] [--reps 10] [--dtype f16|f32]
                                     [--bias docs,alibi --seed N] [--before BEFORE_FATBIN]

The atomic backward adds each key tile's dQ into a float32 buffer with reductions (order varies from run to
run); the deterministic one computes dQ in a kernel of its own, one CTA per query tile. Both include the
pre and convert passes; CUDA events, warm-up, median (bench_kernels.bench), the best of two interleaved rounds of the
modes. FLOPs: 2.5 x the forward's. The last column is issue 13's bar: the launcher's deterministic mode (ORDERED DQ
with the rule's staggered starts where the head dim has it, else the dq kernel) over the atomic one.
--bias adds rows with bench_bias.py's masks (key-pad, docs, alibi) as a score bias, without the causal band; FLOPs
count the full N x N, as bench_bias.py does.
--before times a second fatbin's deterministic backward on the same inputs in the same process (before, after,
before, after: the best of two rounds each, as bench_kernels.py does), and adds its column and after / before
(--before-mode ordered: both fatbins' ORDERED DQ, which then also fills the deterministic column).
A fatbin of ABI 17 or later also times ORDERED DQ (flash_params.h: the atomic mode's kernels, each Q tile's dQ added
in a fixed order), where its head dim has it, in two more columns.
--stagger (ABI 18's STAGGERED STARTS, flash_params.h): rule (the launcher's, flash_ctypes.backward), off, or both:
the atomic and ordered columns without them, and three more columns with them (the atomic mode's forced where the
kernel honours them, the ordered mode's where the rule takes them; two rounds of the four, interleaved, the best of
each).
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
    ap.add_argument("--dtype", choices=("bf16", "f16", "f32"), default="bf16")
    ap.add_argument("--bias", default="")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--before", help="a second fatbin whose deterministic backward is timed beside this one's")
    ap.add_argument("--before-mode", choices=("dq", "ordered"), default="dq",
                    help="which deterministic mode --before compares: the dq kernel's, or ORDERED DQ's")
    ap.add_argument("--stagger", choices=("rule", "off", "both"), default="rule")
    a = ap.parse_args()
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[a.dtype]
    seed = a.seed if a.seed is not None else random.randrange(2**31)
    rng = random.Random(seed)
    fl = Flash(a.fatbin)
    old = Flash(a.before) if a.before else None
    print(f"{a.dtype}; {torch.cuda.get_device_name()}; masks' seed {seed}")
    ordered = fl.abi >= 17
    both = a.stagger == "both"
    forced = False if a.stagger == "off" or both else None  # the plain columns: without, or the rule's
    extra = (" ordered bwd TFLOP/s | ordered / atomic |" if ordered else "") + \
        (" staggered atomic / atomic | staggered ordered / staggered atomic | staggered ordered / atomic |"
         if both else "") + \
        (" before's deterministic | deterministic after / before |" if old else "") + \
        " launcher's deterministic / atomic |"
    print("| d | causal or bias | N | atomic bwd TFLOP/s | deterministic bwd TFLOP/s | deterministic / atomic |" + extra)
    print("| --- | --- | --- | --- | --- | --- |" + (" --- | --- |" if ordered else "") + (" --- | --- | --- |" if both else "")
          + (" --- | --- |" if old else "") + " --- |")
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
                def run(f, det, stagger=forced):
                    return bench(lambda: f.backward(do, q, k, v, o, lse, mask, scale, deterministic=det, dq=g[0],
                                                    dk=g[1], dv=g[2], scratch=scr, bias=prep, stagger=stagger), a.reps)
                has_ordered = ordered and fl.dkdv_orders_dq[fl.kernel_hd(d)] and prep is None
                if both:  # two interleaved rounds of the four (the staggered ones: the rule's, where it takes them)
                    runs = {False: (False, False), "ordered": ("ordered", False), "st": (False, prep is None),
                            "ordered_st": ("ordered", None)}
                    if not has_ordered:
                        del runs["ordered"], runs["ordered_st"]
                    rounds = [{key: run(fl, *how) for key, how in runs.items()} for _ in range(2)]
                    t = {key: min(r[key] for r in rounds) for key in runs}
                elif not old:  # two interleaved rounds of atomic, ordered and the dq kernel's; the best of each
                    runs = {False: False, "ordered": "ordered", True: True}
                    if not has_ordered:
                        del runs["ordered"]
                    rounds = [{key: run(fl, det) for key, det in runs.items()} for _ in range(2)]
                    t = {key: min(r[key] for r in rounds) for key in runs}
                else:
                    t = {False: run(fl, False)}
                    if has_ordered:
                        t["ordered"] = run(fl, "ordered")
                if old:  # before, after, before, after: the best round of each, against clock drift
                    mode = True if a.before_mode == "dq" else "ordered"
                    rounds = [(run(old, mode), run(fl, mode)) for _ in range(2)]
                    t["before"], t[True] = min(r[0] for r in rounds), min(r[1] for r in rounds)
                elif True not in t:
                    t[True] = run(fl, True)
                flops = 2.5 * 4 * b * h * n * n * d / (2 if kind == "yes" else 1)
                ta, td = flops / t[False] / 1e12, flops / t[True] / 1e12
                line = f"| {d} | {kind} | {n} | {ta:.0f} | {td:.0f} | {td / ta:.2f} |"
                if ordered:
                    to = flops / t["ordered"] / 1e12 if "ordered" in t else None
                    line += f" {to:.0f} | {to / ta:.2f} |" if to else " - | - |"
                if both:
                    st = t[False] / t["st"]
                    line += f" {st:.3f} |" + (f" {t['st'] / t['ordered_st']:.2f} | {t[False] / t['ordered_st']:.2f} |"
                                               if "ordered_st" in t else " - | - |")
                if old:
                    tb = flops / t["before"] / 1e12
                    line += f" {tb:.0f} | {td / tb:.3f} |"
                # the bar (issue 13): the launcher's deterministic mode (ORDERED DQ where the head dim has it, with
                # the rule's staggered starts; else the dq kernel) against the atomic one
                launcher = t.get("ordered_st" if both else "ordered", t[True])
                line += " - |" if a.stagger == "off" and "ordered" in t else f" {t[False] / launcher:.2f} |"
                print(line, flush=True)
                del q, k, v, do, o, lse, g, scr, prep
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
