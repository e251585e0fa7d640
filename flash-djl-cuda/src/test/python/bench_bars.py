"""The speed bars of issue 13 from a bench_kernels.py log (developer tool, no GPU needed).

usage: python3 bench_bars.py BENCH_LOG [BENCH_LOG ...]

Reads the SDPA table of the log (| dtype | d | causal | N | ours fwd/bwd | SDPA flash fwd/bwd | SDPA cuDNN fwd/bwd |
...) and prints, per dtype and over both: how many shapes with N >= 1k reach forward >= 1.05x and backward >= 1.0x
of cuDNN, the ranges against cuDNN and FlashAttention-2 per head dim, the N = 512 shapes at >= 0.9x of cuDNN, and
d = 128, N = 16k without a mask against 700 / 600 TFLOP/s.
With several logs (grids of one build), each shape counts once, at the median over the grids of its ratio to cuDNN
(and to FlashAttention-2), so that a bar is not decided by one run's spread; the TFLOP/s shown are the medians.
"""
import re
import statistics
import sys

ROW = re.compile(r"^\| (bf16|f16) \| (\d+) \| (yes|no) \| (\d+) \| (\d+) / (\d+) \| (\d+) / (\d+) \| (\d+) / (\d+) \|")


def rows(path):
    out = []
    for line in open(path):
        m = ROW.match(line)
        if m:
            dt, d, causal, n, of, ob, ff, fb, cf, cb = m.groups()
            out.append((dt, int(d), causal == "yes", int(n), int(of), int(ob), int(ff), int(fb), int(cf), int(cb)))
    return out


def combine(grids):
    """One row per shape from several grids' rows: the median TFLOP/s of each backend, and ours set so that its
    ratio to each backend is the median of the grids' ratios (same-process pairs, not ratios of medians)."""
    by_shape = {}
    for grid in grids:
        for r in grid:
            by_shape.setdefault(r[:4], []).append(r[4:])
    out = []
    for key, runs in by_shape.items():
        if len(runs) < len(grids):
            continue  # a shape that a grid lacks (cut short) is left out
        med = [statistics.median(v[i] for v in runs) for i in range(6)]
        of, ob = (statistics.median(v[i] / v[4 + i] for v in runs) * med[4 + i] for i in (0, 1))
        ff, fb = (of / statistics.median(v[0] / v[2] for v in runs), ob / statistics.median(v[1] / v[3] for v in runs))
        out.append(key + (of, ob, ff, fb, med[4], med[5]))
    return sorted(out)


def span(values):
    return f"{min(values):.2f}-{max(values):.2f}" if values else "-"


def main():
    grids = [rows(path) for path in sys.argv[1:]]
    for path, grid in zip(sys.argv[1:], grids):
        if not grid:
            sys.exit(f"{path}: no rows of the SDPA table")
    data = grids[0] if len(grids) == 1 else combine(grids)
    if len(grids) > 1:
        print(f"each shape at its median over {len(grids)} grids")
    for dts in (("bf16",), ("f16",), ("bf16", "f16")):
        sel = [r for r in data if r[0] in dts]
        if not sel:
            continue
        name = "+".join(dts)
        long = [r for r in sel if r[3] >= 1024]
        fwd_ok = sum(r[4] >= 1.05 * r[8] for r in long)
        bwd_ok = sum(r[5] >= 1.0 * r[9] for r in long)
        print(f"{name}: N >= 1k: forward >= 1.05x cuDNN {fwd_ok} of {len(long)}, backward >= 1.0x {bwd_ok} of "
              f"{len(long)}; forward {span([r[4] / r[8] for r in long])}x, backward {span([r[5] / r[9] for r in long])}x")
        for d in sorted({r[1] for r in sel}):
            rd = [r for r in long if r[1] == d]
            print(f"  d = {d}: vs cuDNN forward {span([r[4] / r[8] for r in rd])}, backward "
                  f"{span([r[5] / r[9] for r in rd])}; vs FA2 forward {span([r[4] / r[6] for r in rd])}, backward "
                  f"{span([r[5] / r[7] for r in rd])}")
        short = [r for r in sel if r[3] == 512]
        if short:
            print(f"  N = 512: forward >= 0.9x cuDNN {sum(r[4] >= 0.9 * r[8] for r in short)} of {len(short)} "
                  f"({span([r[4] / r[8] for r in short])}), backward {sum(r[5] >= 0.9 * r[9] for r in short)} of "
                  f"{len(short)} ({span([r[5] / r[9] for r in short])})")
        for r in sel:
            if r[1] == 128 and not r[2] and r[3] == 16384:
                print(f"  d = 128, 16k, no mask ({r[0]}): forward {r[4]:.0f} (bar 700), backward {r[5]:.0f} (bar 600)")


if __name__ == "__main__":
    main()
