"""Developer tool: for the band cases of check_kernels.py, how often does one random draw put our
error above 2x torch SDPA's, and how far apart are two of PyTorch's own fp16 implementations
(SDPA with an explicit mask, i.e. the memory-efficient kernel, against the math path) on the same
draws? Ratio = max|impl - f64| / max|baseline - f64| over SEEDS draws, per gradient.

usage (repository root): python3 flash-djl-cuda/src/test/python/band_study.py FATBIN [SEEDS]"""
import math
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, "flash-djl-cuda/src/test/python")
import check_kernels as ck
from flash_ctypes import Flash

fl = Flash(sys.argv[1])
seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 60


def sdpa(q, k, v, do, vis, empty, scale, backend):
    qq, kk, vv = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
    with sdpa_kernel(backend):
        o = F.scaled_dot_product_attention(qq, kk, vv, attn_mask=vis | empty[:, None], scale=scale)
    return torch.autograd.grad(o, (qq, kk, vv), do.masked_fill(empty[None, None, :, None], 0))


for dtype, D, shape in ((torch.float16, 32, (1, 3, 3, 257, 257, (-5, -1))),
                        (torch.float16, 64, (1, 3, 3, 257, 257, (-5, -1))),
                        (torch.float16, 32, (1, 2, 2, 1023, 203, (-40, 40)))):
    B, Hq, Hkv, Nq, Nk, mask = shape
    scale = 1 / math.sqrt(D)
    ratios = {}
    for seed in range(seeds):
        torch.manual_seed(seed)
        q, k, v, do = (ck.make(B, h, n, D, dtype, "bhsd") for h, n in ((Hq, Nq), (Hkv, Nk), (Hkv, Nk), (Hq, Nq)))
        vis = ck.visible(Nq, Nk, mask, q.device)
        empty = ~vis.any(-1)
        o, lse = fl.forward(q, k, v, mask, scale)
        ours = fl.backward(do, q, k, v, o, lse, mask, scale)
        ref = ck.reference(q, k, v, do, mask, scale)
        eff = sdpa(q, k, v, do, vis, empty, scale, SDPBackend.EFFICIENT_ATTENTION)
        mth = sdpa(q, k, v, do, vis, empty, scale, SDPBackend.MATH)
        for i, name in enumerate(("dq", "dk", "dv")):
            e_ours, e_eff, e_mth = (ck.maxerr(x[i], ref[2 + i]) for x in (ours, eff, mth))
            ratios.setdefault(("ours/efficient", name), []).append(e_ours / max(e_eff, 1e-12))
            ratios.setdefault(("math/efficient", name), []).append(e_mth / max(e_eff, 1e-12))
    for (what, name), rs in ratios.items():
        rs = torch.tensor(rs)
        print(f"{str(dtype)[6:]} D={D} {shape[3]}x{shape[4]} band {mask} {name} {what:15s}: median {rs.median():.2f} "
              f"p95 {rs.quantile(0.95):.2f} max {rs.max():.2f} >2x {(rs > 2).sum().item()}/{len(rs)}", flush=True)
