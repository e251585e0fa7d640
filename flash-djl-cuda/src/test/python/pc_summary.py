"""Summarise ncu's PC sampling of one kernel (developer tool): where its warps wait, by stall reason and by SASS opcode.

    ncu --clock-control none -k regex:flash_fwd_f32_hd128 --launch-count 1 --section WarpStateStats \\
        --section SourceCounters -o pc python3 profile_dkdv.py FATBIN --dtype float32 --d 128 --n 4096
    ncu -i pc.ncu-rep --page source --csv --print-source sass > pc.csv
    python3 pc_summary.py pc.csv [--top 30] [--per MMAS]

Reads the CSV of ncu's source page (one row per SASS instruction): the sampled stall reasons in all, the executed
instructions by opcode (divided by --per, e.g. the kernel's MMAs per warp, to give instructions per MMA) and the most
sampled instructions with their first reasons.
"""
import argparse
import collections
import csv
import re

REASONS = ["barrier", "branch_resolving", "dispatch", "drain", "imc_miss", "lg_throttle", "long_sb", "math",
           "membar", "mio_throttle", "misc", "no_instruction", "not_selected", "selected", "short_sb", "sleeping",
           "tex_throttle", "wait"]


def number(s):
    try:
        return float(s.replace(",", ""))
    except ValueError:
        return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--per", type=float, default=0.0, help="divide the executed instructions by this")
    a = ap.parse_args()
    with open(a.csv, newline="") as f:
        lines = [ln for ln in f if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.startswith('"Address"') or ln.startswith("Address"))
    rows = list(csv.DictReader(lines[start:]))
    cols = list(rows[0].keys())
    total_col = next((c for c in cols if c.startswith("Warp Stall Sampling (All")), None)
    exec_col = next((c for c in cols if c == "Instructions Executed"), None)
    reason_cols = {}
    for c in cols:
        key = re.sub(r"[^a-z_]", "", c.lower().replace(" ", "_"))
        for r in REASONS:
            if key.endswith(r) and ("stall" in key or key == r) and r not in reason_cols:
                if r == "selected" and key.endswith("not_selected"):
                    continue
                reason_cols[r] = c
    print("columns:", ", ".join(cols))
    total = sum(number(r[total_col]) for r in rows) if total_col else 0
    print(f"instructions {len(rows)}, samples {total:.0f}")
    if reason_cols:
        sums = {r: sum(number(row[c]) for row in rows) for r, c in reason_cols.items()}
        s = sum(sums.values()) or 1
        print("stall reasons: " + ", ".join(f"{r} {100 * v / s:.1f}%" for r, v in
                                            sorted(sums.items(), key=lambda kv: -kv[1]) if v > 0))
    if exec_col:
        ops = collections.Counter()
        for r in rows:
            op = r["Source"].split()
            op = [w for w in op if not w.startswith("@")]
            if op:
                ops[op[0].split(".")[0]] += number(r[exec_col])
        n = sum(ops.values())
        per = a.per or 1
        print(f"executed warp instructions {n:.4g}" + (f", {n / per:.2f} per unit of --per" if a.per else ""))
        print("by opcode: " + ", ".join(f"{o} {v / per:.3g}" for o, v in ops.most_common(25)))
    if total_col:
        print("most sampled instructions: samples, share, address, SASS, first reasons")
        for r in sorted(rows, key=lambda r: -number(r[total_col]))[:a.top]:
            v = number(r[total_col])
            why = sorted(((number(r[c]), k) for k, c in reason_cols.items()), reverse=True)[:2]
            print(f"{v:9.0f} {100 * v / (total or 1):5.1f}% {r['Address']:>6} {r['Source'][:60]:60} "
                  + " ".join(f"{k} {x:.0f}" for x, k in why if x > 0))


if __name__ == "__main__":
    main()
