"""Dropout in the kernels (developer tool, needs a CUDA GPU and torch).

usage: python3 check_dropout.py FATBIN [--seed N] [--bench]

1. The generator: Philox4x32-10 written out here (vectorised over all elements) against the known answer
   of Random123 (counter 0, key 0), then the kernels' keep bits recovered exactly from the forward
   (q = k = 0 so P is uniform, V one-hot blocks so O = Z * scale / Nk) for every dtype, both kernel
   families (16-bit, 3xTF32 / SIMT float32), padded and packed sequences: they must equal this file's
   bits (flash_dropout.cuh, io.flashdjl.spi.DropoutBits) everywhere.
2. Statistics of the bits: keep rate within 5 sigma of threshold / 256; agreement between two offsets, two
   heads, two sequences and two rows at the rate independent bits give (p^2 + (1-p)^2), within 5 sigma.
3. Numerics: random inputs, rate 0.1, forward and backward (atomic and deterministic) against the float64
   reference with the same bits, by check_kernels' rule (twice the error of a naive attention in the same
   dtype with the same bits, a floor, one rounding).
4. --bench: forward and backward time with dropout 0.1 against none, bf16, FA3 shapes (the bar: >= 0.85x).
"""
import math
import random
import sys

import torch

from check_kernels import budget, lse_err, maxerr
from flash_ctypes import Flash, dropout_threshold

M32 = 0xFFFFFFFF


def philox(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on int64 tensors holding uint32 values (broadcast together)."""
    x0, x1, x2, x3 = (torch.as_tensor(c, dtype=torch.int64) & M32 for c in (c0, c1, c2, c3))
    a, b = k0 & M32, k1 & M32
    for _ in range(10):
        p0 = 0xD2511F53 * x0  # int64 products wrap mod 2^64: the low 64 bits of the unsigned product
        p1 = 0xCD9E8D57 * x2
        y0 = ((p1 >> 32) & M32) ^ x1 ^ a
        y2 = ((p0 >> 32) & M32) ^ x3 ^ b
        x0, x1, x2, x3 = y0, p1 & M32, y2, p0 & M32
        a, b = (a + 0x9E3779B9) & M32, (b + 0xBB67AE85) & M32
    return x0, x1, x2, x3


def cell(x):
    return ((x >> 4) << 2) | ((x >> 1) & 3)


def keep_bits(seed, offset, rate, S, H, Nq, Nk, dev="cuda"):
    """bool [S, H, Nq, Nk]: the generator of flash_dropout.cuh for sequences 0..S-1, local indices."""
    thr = dropout_threshold(rate)
    i = torch.arange(Nq, device=dev, dtype=torch.int64)[None, None, :, None]
    j = torch.arange(Nk, device=dev, dtype=torch.int64)[None, None, None, :]
    bh = (torch.arange(S, device=dev)[:, None] * H + torch.arange(H, device=dev)[None, :])[:, :, None, None]
    w = philox(cell(j), cell(i), bh, offset, seed & M32, (seed >> 32) & M32)
    k = 4 * ((i & 1) | ((i >> 2) & 2)) + ((j & 1) | ((j >> 2) & 2))
    word = torch.where(k >> 2 == 0, w[0], torch.where(k >> 2 == 1, w[1], torch.where(k >> 2 == 2, w[2], w[3])))
    byte = (word >> (8 * (k & 3))) & 0xFF
    return byte < thr, thr


def kat():
    """Random123's known answers for philox4x32-10."""
    got = [int(t) for t in philox(0, 0, 0, 0, 0, 0)]
    want = [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    got2 = [int(t) for t in philox(0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344, 0xA4093822, 0x299F31D0)]
    want2 = [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]
    return got == want and got2 == want2, got, got2


DTYPES = {"f16": (torch.float16, None), "bf16": (torch.bfloat16, None), "f32": (torch.float32, None),
          "f32bf16": (torch.float32, "bf16")}


def recovered_bits(fl, dt, D, S, H, Hkv, lens, packed, seed, offset, rate):
    """The kernels' keep bits, read off the forward: bool per sequence [H, Nq_s, Nk_s]."""
    dtype, compute = DTYPES[dt]
    out = []
    if packed:
        offs = [0]
        for n in lens:
            offs.append(offs[-1] + n)
        T = offs[-1]
        seq = {"q_offsets": torch.tensor(offs, dtype=torch.int32, device="cuda"),
               "k_offsets": torch.tensor(offs, dtype=torch.int32, device="cuda"), "max_q": max(lens),
               "max_k": max(lens)}
        B, N = 1, T
    else:
        seq, B, N = None, S, lens[0]
    q = torch.zeros(B, H, N, D, device="cuda", dtype=dtype)
    k = torch.zeros(B, Hkv, N, D, device="cuda", dtype=dtype)
    zs = [torch.zeros(H, n, n, dtype=torch.bool, device="cuda") for n in (lens if packed else [N] * S)]
    for c0 in range(0, max(lens) if packed else N, D):  # key block c0 .. c0 + D - 1 -> output columns
        v = torch.zeros(B, Hkv, N, D, device="cuda", dtype=dtype)
        if packed:
            for s, n in enumerate(lens):
                for c in range(c0, min(n, c0 + D)):
                    v[0, :, offs[s] + c, c - c0] = 1
        else:
            for c in range(c0, min(N, c0 + D)):
                v[:, :, c, c - c0] = 1
        o, _ = fl.forward(q, k, v, "none", 1.0, compute=compute, seq=seq, dropout=(rate, seed, offset))
        torch.cuda.synchronize()
        for s in range(S):
            n = lens[s] if packed else N
            rows = o[0, :, offs[s]:offs[s] + n] if packed else o[s]
            w = min(n, c0 + D) - c0
            if w > 0:
                zs[s][:, :, c0:c0 + w] = rows[:, :, :w] > 0
    return zs


def check_bits(fl, seed):
    bad = 0
    cases = [("f16", 64, 2, 4, 2, [200], False), ("bf16", 128, 1, 2, 2, [300], False),
             ("f32", 64, 2, 2, 1, [130], False), ("f32", 256, 1, 2, 2, [100], False),
             ("f32bf16", 64, 2, 2, 2, [77], False), ("f16", 64, 3, 2, 2, [17, 64, 130], True),
             ("f32", 128, 2, 2, 1, [33, 90], True), ("bf16", 192, 1, 2, 1, [150], False)]
    for dt, D, S, H, Hkv, lens, packed in cases:
        rate, offset = 0.25, 7
        zs = recovered_bits(fl, dt, D, S if not packed else len(lens), H, Hkv, lens, packed, seed, offset, rate)
        ok = True
        for s, z in enumerate(zs):
            n = z.shape[-1]
            ref, _ = keep_bits(seed, offset, rate, s + 1, H, n, n)
            ok &= torch.equal(z, ref[s])
        print(f"{'ok  ' if ok else 'FAIL'} bits {dt:8s} D={D} {'packed' if packed else 'padded'} lens={lens}: "
              f"the kernels' bits {'equal' if ok else 'differ from'} the generator's", flush=True)
        bad += not ok
    return bad


def check_statistics(seed):
    bad = 0
    rate = 0.1
    z, thr = keep_bits(seed, 3, rate, 4, 8, 512, 512)
    p = thr / 256
    n = z.numel()
    r = z.float().mean().item()
    sig = math.sqrt(p * (1 - p) / n)
    tests = [("keep rate", r, p, sig)]
    z2, _ = keep_bits(seed, 4, rate, 4, 8, 512, 512)
    agree = p * p + (1 - p) * (1 - p)
    sa = math.sqrt(agree * (1 - agree) / n)
    tests.append(("offsets agree", (z == z2).float().mean().item(), agree, sa))
    m = z[:, :4].numel()
    sm = math.sqrt(agree * (1 - agree) / m)
    tests.append(("heads agree", (z[:, :4] == z[:, 4:]).float().mean().item(), agree, sm))
    tests.append(("sequences agree", (z[:2] == z[2:]).float().mean().item(), agree, sa * math.sqrt(2)))
    tests.append(("rows agree", (z[:, :, :256] == z[:, :, 256:]).float().mean().item(), agree, sa * math.sqrt(2)))
    tests.append(("neighbour cols agree", (z[..., 0::2] == z[..., 1::2]).float().mean().item(), agree, sa * math.sqrt(2)))
    for name, got, want, s in tests:
        ok = abs(got - want) <= 5 * s
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {got:.5f}, expected {want:.5f} +- {5 * s:.5f} (5 sigma)", flush=True)
    return bad


def reference(q, k, v, do, z, scale, ctype):
    """Attention with dropout bits z [B, H, Nq, Nk] (keep / threshold scale), fwd + bwd, in ctype."""
    q, k, v, do = (t.to(ctype) for t in (q, k, v, do))
    g = q.shape[1] // k.shape[1]
    ke, ve = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
    s = (q @ ke.transpose(-1, -2)) * scale
    lse = torch.logsumexp(s.double(), -1).to(ctype)
    p = torch.softmax(s, -1)
    pz = p * z
    o = pz @ ve
    dv = pz.transpose(-1, -2) @ do
    dp = (do @ ve.transpose(-1, -2)) * z
    delta = (do * o).sum(-1, keepdim=True)
    ds = p * (dp - delta)
    dq = scale * ds @ ke
    dk = scale * ds.transpose(-1, -2) @ q
    B, Hkv, Nk, D = k.shape
    return o, lse, dq, dk.view(B, Hkv, g, Nk, D).sum(2), dv.view(B, Hkv, g, Nk, D).sum(2)


def check_numerics(fl, seed):
    bad = 0
    for dt in DTYPES:
        dtype, compute = DTYPES[dt]
        for D, Nq, Nk, H, Hkv in ((64, 513, 513, 4, 2), (128, 200, 1031, 2, 2), (96, 300, 257, 2, 1), (192, 177, 300, 2, 1), (256, 130, 381, 4, 2)):
            if dt == "f32" and D == 128:
                D = 256  # the SIMT kernels
            B, rate, offset = 2, 0.1, 11
            scale = 1 / math.sqrt(D)
            q, k, v, do = (torch.randn(B, h, n, D, device="cuda", dtype=dtype)
                           for h, n in ((H, Nq), (Hkv, Nk), (Hkv, Nk), (H, Nq)))
            z, thr = keep_bits(seed, offset, rate, B, H, Nq, Nk)
            zf = z.double() * (256 / thr)
            ro, rlse, rdq, rdk, rdv = reference(q, k, v, do, zf, scale, torch.float64)
            base_t = torch.bfloat16 if compute == "bf16" else dtype
            bo, blse, bdq, bdk, bdv = reference(*(t.to(base_t) for t in (q, k, v, do)), zf.to(base_t), scale, base_t)
            o, lse = fl.forward(q, k, v, "none", scale, compute=compute, dropout=(rate, seed, offset))
            res = []
            for det in (False, True):
                dq, dk, dv = fl.backward(do, q, k, v, o, lse, "none", scale, deterministic=det, compute=compute,
                                         dropout=(rate, seed, offset))
                torch.cuda.synchronize()

                tag = "det_" if det else ""
                res += [(tag + "dq", maxerr(dq, rdq), budget(maxerr(bdq, rdq), rdq, dtype)),
                        (tag + "dk", maxerr(dk, rdk), budget(maxerr(bdk, rdk), rdk, dtype)),
                        (tag + "dv", maxerr(dv, rdv), budget(maxerr(bdv, rdv), rdv, dtype))]
            res += [("O", maxerr(o, ro), budget(maxerr(bo, ro), ro, dtype)),
                    ("LSE", lse_err(lse, rlse), budget(maxerr(blse, rlse), rlse, torch.float32))]
            fails = [f"{n} {e:.2e}>{t:.2e}" for n, e, t in res if not e <= t]
            worst = max(e / t for _, e, t in res)
            print(f"{'FAIL' if fails else 'ok  '} numerics {dt:8s} D={D} Nq={Nq} Nk={Nk} rate {rate}: "
                  + ("; ".join(fails) if fails else f"worst err/tol {worst:.2f}"), flush=True)
            bad += bool(fails)
    return bad


def bench(fl):
    from bench_kernels import bench as timed, fa3_shape
    print("\nbf16, FA3 shapes (B*N = 16k, H*d = 2048): TFLOP/s without / with dropout 0.1 (fwd | bwd), ratio")
    for d in (64, 128):
        for n in (1024, 4096, 16384):
            for causal in (False, True):
                B, H = fa3_shape(n, d)
                q, k, v, do = (torch.randn(B, H, n, d, device="cuda", dtype=torch.bfloat16) for _ in range(4))
                mask = "tl" if causal else "none"
                fl_f = 4 * B * H * n * n * d * (0.5 if causal else 1)
                r = {}
                for name, drop in (("none", None), ("0.1", (0.1, 1234, 0))):
                    o, lse = fl.forward(q, k, v, mask, dropout=drop)
                    g = tuple(torch.empty_like(t) for t in (q, k, v))
                    scr = fl.scratch(B, H, n, d)
                    tf = timed(lambda: fl.forward(q, k, v, mask, o=o, lse=lse, dropout=drop), 15)
                    tb = timed(lambda: fl.backward(do, q, k, v, o, lse, mask, dq=g[0], dk=g[1], dv=g[2], scratch=scr,
                                                   dropout=drop), 15)
                    r[name] = (fl_f / tf / 1e12, 2.5 * fl_f / tb / 1e12)
                print(f"| {d} | {n} | {'yes' if causal else 'no'} | {r['none'][0]:.0f} / {r['0.1'][0]:.0f} | "
                      f"{r['none'][1]:.0f} / {r['0.1'][1]:.0f} | {r['0.1'][0] / r['none'][0]:.2f} / "
                      f"{r['0.1'][1] / r['none'][1]:.2f} |", flush=True)


def main():
    fl = Flash(sys.argv[1])
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else random.randrange(2**62)
    print(f"seed={seed} (replay with --seed {seed})", flush=True)
    torch.manual_seed(seed & 0xFFFFFFFF)
    ok, got, got2 = kat()
    print(f"{'ok  ' if ok else 'FAIL'} philox4x32-10 known answers: {[hex(x) for x in got]} {[hex(x) for x in got2]}")
    bad = (not ok) + check_bits(fl, seed) + check_statistics(seed) + check_numerics(fl, seed)
    print(f"{'all passed' if bad == 0 else str(bad) + ' failed'}")
    if "--bench" in sys.argv:
        bench(fl)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
