"""Correctness harness for sequences in the kernels: padded batches with per-row valid lengths and
packed (varlen) batches given by cumulative offsets (developer tool, needs a CUDA GPU and torch).

usage: python3 check_sequences.py FATBIN [--seed N] [--dtype f16|bf16|f32|f32bf16]

Fresh random inputs every run: the seed is drawn, printed first, and replayed with --seed N.
Every padding row of q, k, v and dO is NaN (the kernels must never read it) and every output
starts as NaN (the kernels must write every stored row). The expected result is assembled from
each sequence alone: the float64 reference (check_kernels.reference) and torch SDPA in the same
dtype on that sequence's valid rows, with the band of the sequence's own lengths; padding query
rows expect O = 0, LSE = -inf, dQ = 0 and padding keys dK = dV = 0. The rule is check_kernels'
(ErrorBudget: twice SDPA's error, a floor, one rounding of the stored dtype), over the whole
tensors. Deterministic mode runs twice and must give identical bits.
"""
import math
import random
import sys

import torch

from check_kernels import budget, lse_err, maxerr, reference, report, torch_baseline, verdict
from flash_ctypes import Flash

DTYPES = {"f16": (torch.float16, None), "bf16": (torch.bfloat16, None), "f32": (torch.float32, None),
          "f32bf16": (torch.float32, "bf16")}


def seq_band(mask, ql, kl):
    """(lo, hi) of a mask for one sequence of ql queries and kl keys, as io.flashdjl.spi.Visibility
    computes it: "none", "tl", "br", or ("tl"|"br", left, right), a window around that diagonal
    (-1: unbounded on that side)."""
    anchor, left, right = (mask, -1, -1) if isinstance(mask, str) else mask
    diag = kl - ql if anchor == "br" else 0
    lo, hi = -ql, {"none": kl, "tl": 0, "br": kl - ql}[anchor]
    if left >= 0:
        lo = max(lo, diag - left)
    if right >= 0:
        hi = min(hi, diag + right)
    return max(-ql, min(kl, lo)), max(-ql, min(kl, hi))


def kernel_mask(mask, Nq, Nk):
    """The mask argument of flash_ctypes for the whole tensors (Nq x Nk rows)."""
    return mask if isinstance(mask, str) else seq_band(mask, Nq, Nk)


def bottom_right(mask):
    return (mask if isinstance(mask, str) else mask[0]) == "br"


def expected(q, k, v, do, mask, scale, compute, pieces):
    """Reference and SDPA results (and their empty rows) assembled from each sequence alone.
    pieces: (batch row, q row0, q len, q rows, k row0, k len, k rows) per sequence; q, k, v, do are
    BHSD views. With compute="bf16" SDPA runs on the bfloat16 casts (as the SDPA backend does for
    Precision.BFLOAT16) and its results are compared as float32."""
    ref = [torch.zeros_like(t, dtype=torch.float64) for t in (q, k, v)]
    ref_o = torch.zeros(q.shape, dtype=torch.float64, device=q.device)
    ref_lse = torch.full(q.shape[:3], -math.inf, dtype=torch.float64, device=q.device)
    sd = [torch.zeros_like(t) for t in (q, k, v)]
    sd_o = torch.zeros_like(q)
    sd_lse = torch.full(q.shape[:3], -math.inf, dtype=torch.float32, device=q.device)
    ok_rows = torch.zeros(q.shape[0], q.shape[2], dtype=torch.bool, device=q.device)
    for b, q0, ql, _, k0, kl, _ in pieces:
        if ql == 0:
            continue
        qs, dos = q[b:b + 1, :, q0:q0 + ql], do[b:b + 1, :, q0:q0 + ql]
        if kl == 0:  # no key: nothing visible, the expectation stays O = 0, LSE = -inf, zero grads
            continue
        ks, vs = k[b:b + 1, :, k0:k0 + kl], v[b:b + 1, :, k0:k0 + kl]
        m = seq_band(mask, ql, kl)
        ro, rlse, rdq, rdk, rdv = reference(qs, ks, vs, dos, m, scale)
        cast = (lambda t: t.bfloat16()) if compute == "bf16" else (lambda t: t)
        to, tlse, tdq, tdk, tdv, empty = (x.float() if compute == "bf16" and x.is_floating_point() else x for x in
                                          torch_baseline(cast(qs), cast(ks), cast(vs), cast(dos), m, scale))
        ref_o[b:b + 1, :, q0:q0 + ql], ref_lse[b:b + 1, :, q0:q0 + ql] = ro, rlse
        ref[0][b:b + 1, :, q0:q0 + ql], ref[1][b:b + 1, :, k0:k0 + kl], ref[2][b:b + 1, :, k0:k0 + kl] = rdq, rdk, rdv
        sd_o[b:b + 1, :, q0:q0 + ql] = to.masked_fill(empty[None, None, :, None], 0)
        sd_lse[b:b + 1, :, q0:q0 + ql] = tlse
        sd[0][b:b + 1, :, q0:q0 + ql], sd[1][b:b + 1, :, k0:k0 + kl], sd[2][b:b + 1, :, k0:k0 + kl] = tdq, tdk, tdv
        ok_rows[b, q0:q0 + ql] = ~empty
    return (ref_o, ref_lse, *ref), (sd_o, sd_lse, *sd), ok_rows


def poison(t, pieces, key_side):
    """NaN in every row of t (BHSD view) that is no sequence's valid row."""
    keep = torch.zeros(t.shape[0], t.shape[2], dtype=torch.bool, device=t.device)
    for b, q0, ql, _, k0, kl, _ in pieces:
        r0, n = (k0, kl) if key_side else (q0, ql)
        keep[b, r0:r0 + n] = True
    t.masked_fill_(~keep[:, None, :, None], float("nan"))


def run_case(fl, dt, D, case):
    dtype, compute = DTYPES[dt]
    kind, B, Hq, Hkv, lens, mask = case
    scale = 1.0 / math.sqrt(D)
    dev = "cuda"
    if kind == "padded":
        Nq, Nk = lens[2], lens[3]
        qlen = [x for x, _ in lens[0]]
        klen = [x for x, _ in lens[1]]
        pieces = [(b, 0, min(max(qlen[b], 0), Nq), Nq, 0, min(max(klen[b], 0), Nk), Nk) for b in range(B)]
        seq = {"q_lengths": torch.tensor(qlen, dtype=torch.int32, device=dev),
               "k_lengths": torch.tensor(klen, dtype=torch.int32, device=dev)}
        TB = B
    else:  # packed: lens = [(q rows, k rows)] per sequence, optional lengths inside
        qrows = [r for r, _ in lens]
        krows = [r for _, r in lens]
        qo = [0] + list(torch.tensor(qrows).cumsum(0).tolist())
        ko = [0] + list(torch.tensor(krows).cumsum(0).tolist())
        Nq, Nk, TB = qo[-1], ko[-1], 1
        pieces = [(0, qo[s], qrows[s], qrows[s], ko[s], krows[s], krows[s]) for s in range(len(lens))]
        seq = {"q_offsets": torch.tensor(qo, dtype=torch.int32, device=dev),
               "k_offsets": torch.tensor(ko, dtype=torch.int32, device=dev),
               "max_q": max(qrows), "max_k": max(krows)}
    seq["bottom_right"] = bottom_right(mask)
    q = torch.randn(TB, Hq, Nq, D, device=dev, dtype=dtype)
    k = torch.randn(TB, Hkv, Nk, D, device=dev, dtype=dtype)
    v = torch.randn(TB, Hkv, Nk, D, device=dev, dtype=dtype)
    do = torch.randn(TB, Hq, Nq, D, device=dev, dtype=dtype)
    (ro, rlse, rdq, rdk, rdv), (to, tlse, tdq, tdk, tdv), ok_rows = expected(q, k, v, do, mask, scale, compute, pieces)
    for t, key_side in ((q, False), (k, True), (v, True), (do, False)):
        poison(t, pieces, key_side)
    km = kernel_mask(mask, Nq, Nk)
    o = torch.full_like(q, float("nan"))
    lse = torch.full((TB, Hq, Nq), float("nan"), device=dev)
    fl.forward(q, k, v, km, scale, o=o, lse=lse, compute=compute, seq=seq)
    grads = {}
    for det in (False, True, True, "ordered", "ordered"):  # "ordered": ORDERED DQ where the fatbin has it
        dq, dk, dv = (torch.full_like(t, float("nan")) for t in (q, k, v))
        fl.backward(do, q, k, v, o, lse, km, scale, deterministic=det, dq=dq, dk=dk, dv=dv, compute=compute, seq=seq)
        grads.setdefault(det, []).append((dq, dk, dv))
    torch.cuda.synchronize()

    stored = dtype
    res = [("O", maxerr(o, ro), budget(maxerr(to, ro), ro, stored)),
           ("LSE", lse_err(lse, rlse), budget(_lse_sdpa_err(tlse, rlse), rlse, torch.float32))]
    for tag, (dq, dk, dv) in (("", grads[False][0]), ("det_", grads[True][0]), ("ord_", grads["ordered"][0])):
        res.append((tag + "dq", maxerr(dq, rdq), budget(maxerr(tdq, rdq), rdq, stored)))
        res.append((tag + "dk", maxerr(dk, rdk), budget(maxerr(tdk, rdk), rdk, stored)))
        res.append((tag + "dv", maxerr(dv, rdv), budget(maxerr(tdv, rdv), rdv, stored)))
    same = all(torch.equal(a, b) for m in (True, "ordered") for a, b in zip(grads[m][0], grads[m][1]))
    return verdict(res, same)


def _lse_sdpa_err(tlse, rlse):
    """SDPA's LSE error over the rows where the reference is finite (fp32 math on the inputs)."""
    fin = torch.isfinite(rlse)
    d = (tlse.double() - rlse)[fin].abs()
    return d.max().item() if d.numel() else 0.0


CASES = [  # kind, B, Hq, Hkv, lengths, mask
    # padded: ([(q len, _) per row], [(k len, _) per row], Nq, Nk)
    ("padded", 3, 4, 2, ([(17, 0), (0, 0), (113, 0)], [(40, 0), (5, 0), (203, 0)], 113, 203), "none"),
    ("padded", 3, 2, 2, ([(200, 0), (129, 0), (64, 0)], [(200, 0), (129, 0), (64, 0)], 203, 203), "tl"),
    ("padded", 2, 4, 1, ([(300, 0), (77, 0)], [(1023, 0), (500, 0)], 300, 1023), "br"),
    ("padded", 2, 2, 2, ([(1023, 0), (700, 0)], [(1023, 0), (0, 0)], 1023, 1023), ("tl", 127, 0)),
    ("padded", 2, 2, 2, ([(513, 0), (250, 0)], [(600, 0), (260, 0)], 513, 700), ("br", 64, 16)),
    ("padded", 4, 2, 1, ([(2049, 0), (1, 0), (999, 0), (4000, 0)], [(2049, 0), (1, 0), (999, 0), (-3, 0)], 2049, 2049), "tl"),
    # packed: [(q rows, k rows) per sequence]
    ("packed", 4, 4, 2, [(17, 17), (128, 128), (1, 1), (300, 300)], "tl"),
    ("packed", 3, 2, 2, [(64, 200), (203, 50), (5, 1023)], "br"),
    ("packed", 3, 2, 1, [(1000, 1000), (0, 10), (129, 0)], "none"),
    ("packed", 2, 2, 2, [(700, 700), (1500, 1500)], ("tl", 255, 0)),
]


def main():
    fl = Flash(sys.argv[1])
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else random.randrange(2**31)
    print(f"seed={seed} (replay with --seed {seed})", flush=True)
    torch.manual_seed(seed)
    dts = [sys.argv[sys.argv.index("--dtype") + 1]] if "--dtype" in sys.argv else list(DTYPES)
    passed = failed = 0
    for dt in dts:
        for D in (64, 80, 128, 192, 200) if dt != "f32" else (64, 80, 128, 192, 256):
            for case in CASES:
                name = f"{dt:8s} D={D:3d} {case[0]:6s} B={case[1]} Hq={case[2]} Hkv={case[3]} mask={case[5]}"
                ok = report(name, lambda: run_case(fl, dt, D, case))
                passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
