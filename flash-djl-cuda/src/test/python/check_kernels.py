"""Correctness harness for the flash-djl kernels (developer tool, needs a CUDA GPU and torch).

usage: python3 check_kernels.py FATBIN [--quick | --small] [--seed N] [--dtype f16|bf16|f32] [--d 48,64]

Fresh random inputs every run: the seed is drawn, printed first, and replayed with --seed N.

Masks: none, causal top-left / bottom-right, and general visibility bands (sliding windows, a
band with a lower bound above key 0, a band that excludes the diagonal), checked against a float64
reference and torch SDPA with the same explicit boolean mask. For every case: fresh random inputs,
outputs poisoned with NaN, our fwd + bwd (the atomic path and both deterministic ones: the dq kernel's and, where the
fatbin has it, ORDERED DQ's) against a
float64 reference. Rule: the project's one rule, ErrorBudget in flash-djl-core's test tree (the
FlashAttention-2 test suite's, plus the stored dtype's rounding), for O, LSE, dq, dk, dv:
max|ours - ref| <= 2 * max|torch SDPA (same dtype) - ref| + 1e-5 * max(1, max|ref|)
                   + half an ulp of the stored dtype at max|ref|.
Each deterministic mode is run twice and must give identical bits. NaN never passes.
"""
import math
import random
import sys

import torch
import torch.nn.functional as F

from flash_ctypes import Flash, band

# half an ulp at 1.0 of the dtype a result is stored in (ErrorBudget.rounding)
ROUNDING = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8, torch.float32: 2.0**-24}

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def visible(Nq, Nk, mask, dev):
    """[Nq, Nk] boolean: key j visible to query i iff i + lo <= j <= i + hi (flash_params.h)."""
    lo, hi = band(mask, Nq, Nk)
    i = torch.arange(Nq, device=dev)[:, None]
    j = torch.arange(Nk, device=dev)[None, :]
    return (j >= i + lo) & (j <= i + hi)


def reference(q, k, v, do, mask, scale):
    """float64 attention fwd + bwd; rows with no visible key: O = 0, LSE = -inf, zero grads."""
    q, k, v, do = (t.double() for t in (q, k, v, do))
    g = q.shape[1] // k.shape[1]
    ke, ve = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
    vis = visible(q.shape[2], k.shape[2], mask, q.device)
    s = (q @ ke.transpose(-1, -2)) * scale
    s = s.masked_fill(~vis, -math.inf)
    lse = torch.logsumexp(s, -1)
    p = torch.exp(s - lse[..., None])
    p = torch.where(torch.isinf(lse)[..., None], torch.zeros_like(p), p)
    o = p @ ve
    dv = p.transpose(-1, -2) @ do
    dp = do @ ve.transpose(-1, -2)
    delta = (do * o).sum(-1, keepdim=True)
    ds = p * (dp - delta)
    dq = scale * ds @ ke
    dk = scale * ds.transpose(-1, -2) @ q
    B, Hkv, Nk, D = k.shape
    dk = dk.view(B, Hkv, g, Nk, D).sum(2)
    dv = dv.view(B, Hkv, g, Nk, v.shape[-1]).sum(2)
    return o, lse, dq, dk, dv


def torch_baseline(q, k, v, do, mask, scale):
    """torch SDPA in the input dtype; rows without visible keys are made visible and their dO
    zeroed (their output is excluded from the error) so that torch's NaN there does not leak."""
    vis = visible(q.shape[2], k.shape[2], mask, q.device)
    empty = ~vis.any(-1)
    qq, kk, vv = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
    g = q.shape[1] // k.shape[1]
    if mask == "none":
        o = F.scaled_dot_product_attention(qq, kk, vv, scale=scale, enable_gqa=g > 1)
    elif mask == "tl":
        o = F.scaled_dot_product_attention(qq, kk, vv, is_causal=True, scale=scale, enable_gqa=g > 1)
    else:
        m = vis | empty[:, None]
        o = F.scaled_dot_product_attention(qq, kk, vv, attn_mask=m, scale=scale, enable_gqa=g > 1)
    do2 = do.masked_fill(empty[None, None, :, None], 0)
    dq, dk, dv = torch.autograd.grad(o, (qq, kk, vv), do2)
    # LSE baseline: fp32 math on the same inputs
    ke = k.float().repeat_interleave(g, 1)
    s = (q.float() @ ke.transpose(-1, -2)) * scale
    lse = torch.logsumexp(s.masked_fill(~vis, -math.inf), -1)
    return o, lse, dq, dk, dv, empty


def budget(baseline_err, ref, stored):
    """The rule (the Java ErrorBudget.check): twice the baseline's error against the float64 reference, a
    floor of 1e-5 of the largest finite reference value (at least 1e-5), and one rounding of the dtype the
    result is stored in. Every check_*.py judges by it."""
    largest = ref.double().abs()[torch.isfinite(ref)].max().item() if torch.isfinite(ref).any() else 0.0
    return 2 * baseline_err + 1e-5 * max(1.0, largest) + ROUNDING[stored] * largest


def verdict(res, same=True):
    """(failures, worst error / budget) of [(name, error, budget)] rows; same: whether the deterministic runs
    gave the same bits."""
    bad = [f"{n} {e:.2e}>{t:.2e}" for n, e, t in res if not (e <= t)]
    if not same:
        bad.append("deterministic bits differ")
    worst = max(e / t for n, e, t in res if e == e) if all(e == e for _, e, _ in res) else float("nan")
    return bad, worst


def report(name, case):
    """Runs case() -> (failures, worst), prints one ok / FAIL line (an exception is a failure); True if ok."""
    try:
        bad, worst = case()
    except Exception as ex:  # noqa
        bad, worst = [f"exception {type(ex).__name__}: {ex}"], float("nan")
    if bad:
        print(f"FAIL {name}: {'; '.join(bad)}", flush=True)
    else:
        print(f"ok   {name}: worst err/tol {worst:.2f}", flush=True)
    return not bad


def maxerr(a, b, rows_ok=None):
    d = (a.double() - b.double()).abs()
    if rows_ok is not None:
        d = d[..., rows_ok, :] if d.dim() == 4 else d[..., rows_ok]
    if d.numel() == 0:
        return 0.0
    return float("nan") if torch.isnan(d).any() else d.max().item()


def lse_err(ours, ref):
    inf_r, inf_o = torch.isinf(ref), torch.isinf(ours)
    if torch.isnan(ours).any() or not torch.equal(inf_r, inf_o) or (ours[inf_o] > 0).any():
        return float("nan")
    d = (ours.double() - ref)[~inf_r].abs()
    return d.max().item() if d.numel() else 0.0


def make(B, H, N, D, dtype, layout):
    if layout == "bshd":
        return torch.randn(B, N, H, D, device="cuda", dtype=dtype).transpose(1, 2)
    return torch.randn(B, H, N, D, device="cuda", dtype=dtype)


def empty_nan(like_shape, dtype, layout):
    B, H, N, D = like_shape
    t = torch.full((B, N, H, D) if layout == "bshd" else (B, H, N, D), float("nan"), device="cuda", dtype=dtype)
    return t.transpose(1, 2) if layout == "bshd" else t


SHAPES = [  # B, Hq, Hkv, Nq, Nk, mask ("none", "tl", "br" or a band (lo, hi))
    (1, 2, 2, 1, 1, "none"), (2, 3, 3, 17, 17, "tl"), (1, 4, 1, 113, 203, "br"), (2, 8, 2, 203, 113, "br"),
    (1, 4, 1, 203, 113, "tl"), (1, 2, 2, 256, 256, "tl"), (1, 4, 2, 1023, 1023, "none"),
    (1, 2, 1, 2049, 2049, "tl"), (1, 2, 2, 17, 2049, "br"), (1, 2, 2, 2049, 17, "none"),
    (1, 4, 1, 2049, 1023, "br"), (1, 2, 2, 1, 203, "tl"), (1, 2, 2, 113, 1, "br"),
    # STAGGERED STARTS (ABI 18) with more key tiles than Q tiles (walks that start at the same Q tile) and fewer
    (2, 4, 2, 1500, 3100, "none"), (1, 2, 1, 3100, 700, "none"),
    # bands: sliding windows (lo = hi - W + 1), both bounds active, the first visible key tile > 0
    (2, 4, 2, 1023, 1023, (-127, 0)),       # causal window of 128 keys (tile-aligned)
    (1, 2, 2, 2049, 2049, (-300, 0)),       # causal window of 301 keys (not aligned)
    (1, 4, 1, 203, 1023, (820 - 63, 820)),  # bottom-right window of 64 keys (Nk - Nq = 820)
    (1, 2, 2, 1023, 203, (-40, 40)),        # local band; queries past 243 see no key
    (1, 2, 2, 113, 2049, (500, 700)),       # every row's keys start far past key 0
    (1, 3, 3, 257, 257, (-5, -1)),          # the five previous keys, diagonal excluded: row 0 sees none
]


def run_case(fl, dtype, D, shape, layout):
    B, Hq, Hkv, Nq, Nk, mask = shape
    scale = 1.0 / math.sqrt(D)
    q, k, v = make(B, Hq, Nq, D, dtype, layout), make(B, Hkv, Nk, D, dtype, layout), make(B, Hkv, Nk, D, dtype, layout)
    do = make(B, Hq, Nq, D, dtype, layout)
    o = empty_nan(q.shape, dtype, layout)
    lse = torch.full((B, Hq, Nq), float("nan"), device="cuda")
    fl.forward(q, k, v, mask, scale, o=o, lse=lse)
    grads = {}
    # "ordered": ORDERED DQ where the fatbin has it; each mode with the launcher's rule for STAGGERED STARTS (ABI 18),
    # and the atomic and ordered ones once more without them ("plain")
    plain = fl.abi >= 18
    runs = [(False, None), (True, None), (True, None), ("ordered", None), ("ordered", None)] + \
        ([("plain", False), ("ordered_plain", False)] if plain else [])
    for key, stagger in runs:
        det = {"plain": False, "ordered_plain": "ordered"}.get(key, key)
        dq, dk, dv = empty_nan(q.shape, dtype, layout), empty_nan(k.shape, dtype, layout), empty_nan(v.shape, dtype, layout)
        fl.backward(do, q, k, v, o, lse, mask, scale, deterministic=det, dq=dq, dk=dk, dv=dv,
                    **({"stagger": stagger} if plain else {}))
        grads.setdefault(key, []).append((dq, dk, dv))
    torch.cuda.synchronize()
    ro, rlse, rdq, rdk, rdv = reference(q, k, v, do, mask, scale)
    to, tlse, tdq, tdk, tdv, empty = torch_baseline(q, k, v, do, mask, scale)
    ok_rows = ~empty
    res = []
    res.append(("O", maxerr(o, ro), budget(maxerr(to, ro, ok_rows), ro, dtype)))
    tlse_err = lse_err(tlse, rlse) if not empty.any() else maxerr(tlse[..., ok_rows], rlse[..., ok_rows])
    res.append(("LSE", lse_err(lse, rlse), budget(tlse_err, rlse, torch.float32)))
    tags = [("", False), ("det_", True), ("ord_", "ordered")] + ([("plain_", "plain"), ("ordp_", "ordered_plain")]
                                                                   if plain else [])
    for tag, key in tags:
        dq, dk, dv = grads[key][0]
        res.append((tag + "dq", maxerr(dq, rdq), budget(maxerr(tdq, rdq), rdq, dtype)))
        res.append((tag + "dk", maxerr(dk, rdk), budget(maxerr(tdk, rdk), rdk, dtype)))
        res.append((tag + "dv", maxerr(dv, rdv), budget(maxerr(tdv, rdv), rdv, dtype)))
    same = all(torch.equal(a, b) for m in (True, "ordered") for a, b in zip(grads[m][0], grads[m][1]))
    return verdict(res, same)


def main():
    fl = Flash(sys.argv[1])
    quick = "--quick" in sys.argv
    small = "--small" in sys.argv  # a few small cases, e.g. under compute-sanitizer
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else random.randrange(2**31)
    print(f"seed={seed} (replay with --seed {seed})", flush=True)
    torch.manual_seed(seed)
    passed = failed = 0
    idx = 0
    dtypes = (torch.float16, torch.bfloat16, torch.float32)
    if "--dtype" in sys.argv:  # one dtype only
        only = sys.argv[sys.argv.index("--dtype") + 1]
        dtypes = tuple(t for t in dtypes if {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}[only] == t)
    dims = (80, 128, 256) if small else (32, 64, 80, 96, 128, 160, 192, 256)
    if "--d" in sys.argv:  # these head dims only (e.g. a kernel's with FLASH_FWD_FORM=long, flash_ctypes.py)
        dims = tuple(int(x) for x in sys.argv[sys.argv.index("--d") + 1].split(","))
    for dtype in dtypes:
        for D in dims:
            for shape in (SHAPES[1:4] if small else SHAPES[::3] if quick else SHAPES):
                layout = "bshd" if idx % 2 else "bhsd"
                idx += 1
                name = (f"{str(dtype)[6:]:8s} D={D:3d} B={shape[0]} Hq={shape[1]} Hkv={shape[2]} Nq={shape[3]} "
                        f"Nk={shape[4]} {str(shape[5]):4s} {layout}")
                if not fl.supports(shape[5]):
                    print(f"skip {name}: this fatbin's ABI ({fl.abi}) has no band masks", flush=True)
                    continue
                ok = report(name, lambda: run_case(fl, dtype, D, shape, layout))
                passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
