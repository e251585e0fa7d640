"""Correctness harness for the score bias in the kernels (SDPA's attn_mask: a boolean mask or an additive
float bias, broadcast over batch, heads or query rows), forward, backward and the bias gradient
(developer tool, needs a CUDA GPU and torch).

usage: python3 check_bias.py FATBIN [--seed N] [--dtype f16|bf16|f32|f32bf16] [--d 32,64]

Fresh random inputs every run: the seed is drawn, printed first, and replayed with --seed N. The masks
have whole 64 x 64 cells hidden (skipped tiles), rows with no visible key and partial cells; some cases
add a causal band or padded lengths. The expected result is float64 attention on the biased scores (and
dBias = dS summed over the broadcast dimensions); the budget is check_kernels' rule (twice the error of
torch SDPA with the same attn_mask in the same dtype, a floor, one rounding of the stored dtype). Every
output starts as NaN. Deterministic mode runs twice: dQ, dK, dV (and dBias when nothing broadcasts)
must be the same bits.
"""
import math
import random
import sys

import torch
import torch.nn.functional as F

from check_kernels import budget, lse_err, maxerr, report, verdict, visible
from flash_ctypes import Flash

DTYPES = {"f16": (torch.float16, None), "bf16": (torch.bfloat16, None), "f32": (torch.float32, None),
          "f32bf16": (torch.float32, "bf16")}


def make_bias(kind, shape, Nq, Nk, dtype, dev):
    """A bias of `shape` ([Bs, Hs, Nq or 1, Nk]): kind "keep" (bool), "float" (random, some -inf)."""
    Bs, Hs, R, _ = shape
    keep = torch.rand(shape, device=dev) > 0.3
    if R > 1:  # whole cells hidden and a few rows that see nothing
        cells = torch.rand(Bs, Hs, (R + 63) // 64, (Nk + 63) // 64, device=dev) < 0.3
        keep &= ~cells.repeat_interleave(64, 2).repeat_interleave(64, 3)[:, :, :R, :Nk]
        keep[:, :, R // 3] = False
    else:  # key padding: a valid length per (batch, head)
        lens = torch.randint(1, Nk + 1, (Bs, Hs, 1, 1), device=dev)
        keep = torch.arange(Nk, device=dev)[None, None, None, :] < lens
    if kind == "keep":
        return keep
    vals = torch.randn(shape, device=dev, dtype=torch.float32) * 2
    return vals.masked_fill(~keep, -math.inf).to(dtype)


def as_additive(bias):
    return torch.zeros(bias.shape, dtype=torch.float64, device=bias.device).masked_fill(~bias, -math.inf) \
        if bias.dtype == torch.bool else bias.double()


def reference(q, k, v, do, band, bias, scale, valid_q, valid_k):
    """float64 attention on scale * q k^T + bias, the band and the valid rows; rows without visible keys:
    O = 0, LSE = -inf, zero grads. Returns o, lse, dq, dk, dv, dbias (in the bias's shape)."""
    q, k, v, do = (t.double() for t in (q, k, v, do))
    g = q.shape[1] // k.shape[1]
    ke, ve = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
    vis = visible(q.shape[2], k.shape[2], band, q.device)[None, None] & valid_q[:, None, :, None] & \
        valid_k[:, None, None, :]
    s = (q @ ke.transpose(-1, -2)) * scale + as_additive(bias)
    s = s.masked_fill(~vis, -math.inf)
    lse = torch.logsumexp(s, -1)
    p = torch.exp(s - lse[..., None])
    p = torch.where(torch.isinf(lse)[..., None], torch.zeros_like(p), p)
    o = p @ ve
    dv = p.transpose(-1, -2) @ do
    dp = do @ ve.transpose(-1, -2)
    ds = p * (dp - (do * o).sum(-1, keepdim=True))
    dq = ds @ ke * scale
    dk = ds.transpose(-1, -2) @ q * scale
    B, Hkv = k.shape[0], k.shape[1]
    dk = dk.reshape(B, Hkv, g, *dk.shape[2:]).sum(2)
    dv = dv.reshape(B, Hkv, g, *dv.shape[2:]).sum(2)
    dims = [i for i in range(3) if bias.shape[i] == 1 and ds.shape[i] != 1]
    dbias = ds.sum(dims, keepdim=True) if dims else ds
    return o, lse, dq, dk, dv, dbias


def sdpa(q, k, v, do, band, bias, scale, valid_q, valid_k, compute):
    """torch SDPA in the kernels' compute dtype with the same mask as one attn_mask; rows without a visible
    key are shown every key and their dO zeroed (excluded from the error). Returns o, lse, dq, dk, dv, dbias;
    the LSE is torch's logsumexp of the biased scores of the inputs in that dtype, in float32 (SDPA does
    not return one)."""
    cast = (lambda t: t.bfloat16()) if compute == "bf16" else (lambda t: t)
    vis = visible(q.shape[2], k.shape[2], band, q.device)[None, None] & valid_q[:, None, :, None] & \
        valid_k[:, None, None, :]
    add = as_additive(bias).masked_fill(~vis, -math.inf)
    empty = torch.isinf(add).all(-1) & (add < 0).all(-1)
    empty = empty.expand(q.shape[0], q.shape[1], q.shape[2])
    dtype = cast(q).dtype
    mask = add.masked_fill(empty[..., None], 0.0).to(dtype).detach().requires_grad_(bias.dtype != torch.bool)
    qq, kk, vv = (cast(t).detach().clone().requires_grad_(True) for t in (q, k, v))
    g = q.shape[1] // k.shape[1]
    o = F.scaled_dot_product_attention(qq, kk, vv, attn_mask=mask, scale=scale, enable_gqa=g > 1)
    o.backward(cast(do).masked_fill(empty[..., None], 0))
    dbias = None
    if mask.grad is not None:
        dims = [i for i in range(3) if bias.shape[i] == 1 and mask.grad.shape[i] != 1]
        dbias = mask.grad.double().masked_fill(empty[..., None], 0)
        dbias = dbias.sum(dims, keepdim=True) if dims else dbias
    ke = cast(k).float().repeat_interleave(g, 1)
    lse = torch.logsumexp((cast(q).float() @ ke.transpose(-1, -2)) * scale + add.float(), -1)
    return o.detach().masked_fill(empty[..., None], 0).float(), lse, qq.grad.float(), kk.grad.float(), \
        vv.grad.float(), dbias


def run_case(fl, dt, D, case):
    dtype, compute = DTYPES[dt]
    B, Hq, Hkv, Nq, Nk, band, kind, bshape, lengths = case
    scale = 1.0 / math.sqrt(D)
    dev = "cuda"
    q, k, v, do = (torch.randn(B, h, n, D, device=dev, dtype=dtype) for h, n in ((Hq, Nq), (Hkv, Nk), (Hkv, Nk), (Hq, Nq)))
    shape = [B if bshape[0] else 1, Hq if bshape[1] else 1, Nq if bshape[2] else 1, Nk]
    # f32bf16 (float32 data, bf16 compute) takes a float32 bias, what a DJL user passes (DJL has no bf16); bf16 a bf16 one
    bias_dtype = torch.float32 if compute == "bf16" else dtype
    bias = make_bias(kind, shape, Nq, Nk, bias_dtype, dev)
    valid_q = torch.ones(B, Nq, dtype=torch.bool, device=dev)
    valid_k = torch.ones(B, Nk, dtype=torch.bool, device=dev)
    seq = None
    if lengths:
        ql = torch.randint(0, Nq + 1, (B,), device=dev, dtype=torch.int32)
        kl = torch.randint(1, Nk + 1, (B,), device=dev, dtype=torch.int32)
        valid_q = torch.arange(Nq, device=dev)[None] < ql[:, None].long()
        valid_k = torch.arange(Nk, device=dev)[None] < kl[:, None].long()
        seq = {"q_lengths": ql, "k_lengths": kl}
    ro, rlse, rdq, rdk, rdv, rdb = reference(q, k, v, do, band, bias, scale, valid_q, valid_k)
    to, tlse, tdq, tdk, tdv, tdb = sdpa(q, k, v, do, band, bias, scale, valid_q, valid_k, compute)
    grad = bias.dtype != torch.bool
    prepared = fl.prepare_bias(bias, Nq, Nk)
    o = torch.full_like(q, float("nan"))
    lse = torch.full((B, Hq, Nq), float("nan"), device=dev)
    fl.forward(q, k, v, band, scale, o=o, lse=lse, compute=compute, seq=seq, bias=prepared)
    runs = {}
    for det in (False, True, True):
        dq, dk, dv = (torch.full_like(t, float("nan")) for t in (q, k, v))
        out = fl.backward(do, q, k, v, o, lse, band, scale, deterministic=det, dq=dq, dk=dk, dv=dv, compute=compute,
                          seq=seq, bias=prepared, bias_grad=grad)
        runs.setdefault(det, []).append(out)
    torch.cuda.synchronize()

    # padding query rows expect O = 0, LSE = -inf and dQ = 0 (the reference gives exactly that)
    fin = torch.isfinite(rlse)
    tlse_err = (tlse.double() - rlse)[fin].abs().max().item() if fin.any() else 0.0
    res = [("O", maxerr(o, ro), budget(maxerr(to, ro), ro, dtype)),
           ("LSE", lse_err(lse, rlse), budget(tlse_err, rlse[fin] if fin.any() else rlse, torch.float32))]
    for tag, out in (("", runs[False][0]), ("det_", runs[True][0])):
        res.append((tag + "dq", maxerr(out[0], rdq), budget(maxerr(tdq, rdq), rdq, dtype)))
        res.append((tag + "dk", maxerr(out[1], rdk), budget(maxerr(tdk, rdk), rdk, dtype)))
        res.append((tag + "dv", maxerr(out[2], rdv), budget(maxerr(tdv, rdv), rdv, dtype)))
        if grad:
            # dBias reaches the user in the bias's dtype (as dQ, dK, dV in theirs): one rounding of it
            res.append((tag + "dbias", maxerr(out[3], rdb), budget(maxerr(tdb, rdb), rdb, bias_dtype)))
    a, b = runs[True]
    same = all(torch.equal(x, y) for x, y in zip(a[:3], b[:3]))
    broadcast = any(shape[i] == 1 for i in range(3))
    if grad and not broadcast:
        same &= torch.equal(a[3], b[3])
    return verdict(res, same)


CASES = [  # B, Hq, Hkv, Nq, Nk, band, bias kind, (per batch, per head, per row), padded lengths
    (2, 4, 2, 300, 517, "none", "keep", (True, False, True), False),
    (2, 2, 2, 513, 513, "tl", "keep", (False, False, True), False),
    (3, 2, 1, 200, 1000, "none", "keep", (True, True, False), False),   # [B, H, 1, Nk]: key padding
    (2, 4, 2, 257, 385, "none", "float", (True, True, True), False),    # full bias: exact dBias
    (2, 4, 4, 640, 640, "tl", "float", (False, True, True), False),     # ALiBi-like: summed over batch
    (2, 2, 2, 129, 700, "br", "float", (True, False, False), False),    # summed over heads and rows
    (3, 2, 2, 400, 450, "none", "float", (True, True, True), True),     # with padded lengths
    (2, 2, 1, 1024, 1024, "none", "keep", (True, False, True), True),
]


def main():
    fl = Flash(sys.argv[1])
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else random.randrange(2**31)
    print(f"seed={seed} (replay with --seed {seed})", flush=True)
    torch.manual_seed(seed)
    dts = [sys.argv[sys.argv.index("--dtype") + 1]] if "--dtype" in sys.argv else list(DTYPES)
    only = [int(x) for x in sys.argv[sys.argv.index("--d") + 1].split(",")] if "--d" in sys.argv else None
    passed = failed = 0
    for dt in dts:
        for D in only or ((32, 64, 96, 128, 192, 256) if dt != "f32" else (32, 64, 128, 192, 256)):
            for case in CASES:
                name = f"{dt:8s} D={D:3d} B={case[0]} Hq={case[1]} Hkv={case[2]} {case[3]}x{case[4]} " \
                       f"band={case[5]} {case[6]} {case[7]}{' lengths' if case[8] else ''}"
                ok = report(name, lambda: run_case(fl, dt, D, case))
                passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
