"""Whether two fatbins compute the same bits (developer tool, for changes meant to keep the numerics).

    python3 same_outputs.py OLD.fatbin NEW.fatbin [--dtype float32] [--d 32,64,96,128] [--seed S]

Runs both fatbins' forward and backward (both backward modes) on the same fresh random inputs over
awkward shapes (odd lengths, grouped-query heads, causal both ways, a band), with no bias, a
key-padding bool mask and an ALiBi-like float bias (with its gradient), and dropout, and prints per
case whether O, LSE, dQ, dK, dV (and dBias) are bitwise equal, else the largest difference. Exits 1
on any difference. float32 means the FULL kernels (3xTF32 where they run).
"""
import argparse
import random
import sys

import torch

from flash_ctypes import Flash

SHAPES = [  # B, Hq, Hkv, Nq, Nk, mask
    (1, 2, 2, 1, 1, "none"), (2, 3, 3, 17, 17, "tl"), (1, 4, 1, 113, 203, "br"), (2, 8, 2, 203, 113, "br"),
    (1, 4, 2, 1023, 1023, "none"), (1, 2, 1, 2049, 2049, "tl"), (1, 2, 2, 17, 2049, "br"),
    (1, 2, 2, 2049, 17, "none"), (1, 2, 2, 777, 901, (-300, 40)),
]


def run(fl, q, k, v, do, mask, bias, dropout, deterministic, bias_grad):
    o, lse = fl.forward(q, k, v, mask, bias=bias, dropout=dropout)
    grads = fl.backward(do, q, k, v, o, lse, mask, deterministic=deterministic, dropout=dropout, bias=bias,
                        bias_grad=bias_grad)
    return (o, lse) + tuple(grads)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], default="float32")
    ap.add_argument("--d", default="32,64,96,128")
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(2**31)
    print(f"seed={seed} (replay with --seed {seed}); device {torch.cuda.get_device_name()}; dtype {a.dtype}")
    torch.manual_seed(seed)
    dt = getattr(torch, a.dtype)
    old, new = Flash(a.old), Flash(a.new)
    names = ("O", "LSE", "dQ", "dK", "dV", "dBias")
    cases = differ = 0
    for d in (int(x) for x in a.d.split(",")):
        for B, Hq, Hkv, Nq, Nk, mask in SHAPES:
            q = torch.randn(B, Hq, Nq, d, device="cuda", dtype=dt)
            k, v = (torch.randn(B, Hkv, Nk, d, device="cuda", dtype=dt) for _ in range(2))
            do = torch.randn(B, Hq, Nq, d, device="cuda", dtype=dt)
            lens = torch.randint(1, Nk + 1, (B,), device="cuda")
            pad = (torch.arange(Nk, device="cuda")[None, :] < lens[:, None])[:, None, None, :]
            pos = torch.arange(max(Nq, Nk), device="cuda", dtype=torch.float32)
            alibi = (-0.1 * (pos[:Nq, None] - pos[None, :Nk]).abs())[None, None].expand(1, Hq, Nq, Nk).to(dt).contiguous()
            for variant in ("plain", "key-pad", "alibi+grad", "dropout"):
                for det in (False, True):
                    outs = []
                    for fl in (old, new):
                        bias = (fl.prepare_bias(pad, Nq, Nk) if variant == "key-pad"
                                else fl.prepare_bias(alibi, Nq, Nk) if variant == "alibi+grad" else None)
                        dropout = (0.17, seed, 3) if variant == "dropout" else None
                        outs.append(run(fl, q, k, v, do, mask, bias, dropout, det, variant == "alibi+grad"))
                    torch.cuda.synchronize()
                    bad = []
                    for name, x, y in zip(names, *outs):
                        if not torch.equal(x.view(torch.int8) if x.dtype != torch.bool else x,
                                           y.view(torch.int8) if y.dtype != torch.bool else y):
                            diff = (x.double() - y.double()).abs().nan_to_num(float("inf")).max().item()
                            bad.append(f"{name} max|diff| {diff:.3e}")
                    cases += 1
                    if bad:
                        differ += 1
                        print(f"DIFFER d={d} {(B, Hq, Hkv, Nq, Nk, mask)} {variant} det={det}: " + "; ".join(bad))
    print(f"{cases - differ}/{cases} cases bitwise identical")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
