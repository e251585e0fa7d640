"""A small forward and backward of every 16-bit head dim, for compute-sanitizer (developer tool):

    compute-sanitizer --tool memcheck python3 sanitize_sweep.py FATBIN     # also synccheck, racecheck

bf16; d = 32, 64, 96, 128, 160 (padded to 192), 192 and 256; 200 query rows on 136 keys (padding rows and keys in
the last tiles), 4 query heads on 2 kv heads (GQA); no mask and causal; the atomic and the deterministic backward;
one dropout case per head dim. Prints one line per case, so that a report can be placed.

racecheck does not follow every synchronisation these kernels use: it reports hazards on the d <= 128 dK/dV
kernel's LSE and delta copies, which reach the consumers through cp.async arrivals on the stage's mbarrier (see
PERF_LOG.md, "compute-sanitizer over every head dim"). memcheck and synccheck are clean, and so is racecheck on
every other kernel.
"""
import math
import sys

import torch

from flash_ctypes import Flash


def main():
    fl = Flash(sys.argv[1])
    torch.manual_seed(11)
    for d in (32, 64, 96, 128, 160, 192, 256):
        for mask in ("none", "tl"):
            for det in (False, True):
                for drop in ((None,) if det or mask == "tl" else (None, (0.1, 5, 0))):
                    q, do = (torch.randn(1, 4, 200, d, device="cuda", dtype=torch.bfloat16) for _ in range(2))
                    k, v = (torch.randn(1, 2, 136, d, device="cuda", dtype=torch.bfloat16) for _ in range(2))
                    o, lse = fl.forward(q, k, v, mask, 1 / math.sqrt(d), dropout=drop)
                    fl.backward(do, q, k, v, o, lse, mask, 1 / math.sqrt(d), deterministic=det, dropout=drop)
                    torch.cuda.synchronize()
                    print(f"d={d} mask={mask} deterministic={det} dropout={drop} ran", flush=True)


if __name__ == "__main__":
    main()
