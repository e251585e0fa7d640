"""A numpy model of the wgmma forward's online softmax over one block of 64 query rows (tiles of 64 keys, P rounded
to fp16 before P V, O and the row sums in fp32), with the exact running maximum and with the lazy one of the branch
wip/fwd-lazy-rescale (the reference maximum moves only by more than 8 in log2 units). Prints how much larger O's and
the LSE's largest errors against float64 are with the lazy maximum, over 40 random cases (fixed seed).

usage: python3 lazy-max-emulation.py   (numpy only, no GPU)
"""
import numpy as np
rng = np.random.default_rng(7)
def run(lazy, q, k, v, bias, BC=64, thr=8.0):
    n, d = k.shape
    sl2 = 1 / np.sqrt(d) * np.log2(np.e)
    S = (q.astype(np.float32) @ k.astype(np.float32).T) + bias.astype(np.float32) / (1 / np.sqrt(d))  # raw score units
    m = np.full(q.shape[0], -np.inf, np.float32); l = np.zeros(q.shape[0], np.float32)
    O = np.zeros((q.shape[0], d), np.float32)
    for j in range(0, n, BC):
        s = S[:, j:j + BC]
        tmax = (s.max(1) * sl2).astype(np.float32)
        if lazy:
            mv = tmax > m + thr
            mnew = np.where(mv, tmax, m)
        else:
            mnew = np.maximum(m, tmax)
        alpha = np.exp2(m - mnew).astype(np.float32)
        p = np.exp2(s * sl2 - mnew[:, None]).astype(np.float32)
        l = l * alpha + p.sum(1)
        O = O * alpha[:, None] + p.astype(np.float16).astype(np.float32) @ v[j:j + BC].astype(np.float32)
        m = mnew
    return O / l[:, None], (m + np.log2(l)) / np.log2(np.e)
def ref(q, k, v, bias):
    d = k.shape[1]
    S = q.astype(np.float64) @ k.astype(np.float64).T / np.sqrt(d) + bias
    mx = S.max(1, keepdims=True); P = np.exp(S - mx); L = P.sum(1, keepdims=True)
    return P @ v.astype(np.float64) / L, (mx + np.log(L))[:, 0]
ratios = []; lr = []
for t in range(40):
    nq, nk, d = 64, 385, 128
    q = rng.standard_normal((nq, d)).astype(np.float16); k = rng.standard_normal((nk, d)).astype(np.float16)
    v = rng.standard_normal((nk, d)).astype(np.float16)
    bias = rng.standard_normal((nq, nk)) * (3 if t % 2 else 1)
    ro, rl = ref(q, k, v, bias)
    e = []
    for lazy in (False, True):
        o, ls = run(lazy, q, k, v, bias)
        e.append((np.abs(o - ro).max(), np.abs(ls - rl).max()))
    ratios.append(e[1][0] / e[0][0]); lr.append(e[1][1] / max(e[0][1], 1e-12))
print('O max-err lazy/exact: median %.3f max %.3f' % (np.median(ratios), np.max(ratios)))
print('LSE max-err lazy/exact: median %.3f max %.3f' % (np.median(lr), np.max(lr)))
