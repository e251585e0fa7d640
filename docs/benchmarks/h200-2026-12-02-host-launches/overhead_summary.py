"""Median and range of flash-djl's per-call overhead by direction, from latency-grid reports (report.md)."""
import statistics
import sys

for path in sys.argv[1:]:
    rows = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("B=") and cells[1] in ("fwd", "bwd", "fwd+bwd"):
            rows.setdefault(cells[1], []).append(float(cells[4]))
    parts = [f"{d} {statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})" for d, v in rows.items()]
    print(f"{path.split('/')[-2]}: " + "; ".join(parts))
