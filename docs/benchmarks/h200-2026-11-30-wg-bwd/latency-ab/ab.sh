. .device/env.sh >/dev/null
NEWCP="$CP"
OLDCP=$(echo "$CP" | tr ':' '\n' | sed "s|.*/classes/flash-djl-examples-main$|$PWD/.device/old-examples|" | tr '\n' ':'); OLDCP=${OLDCP%:}
for run in old1 new1 old2 new2; do
  case $run in old*) C="$OLDCP";; *) C="$NEWCP";; esac
  $JAVA -cp "$C" io.flashdjl.examples.bench.AttentionBenchmark --grid latency --backends cuda,sdpa-flash,sdpa-cudnn,sdpa-auto --repeats 100 --target-ms 200 --out $OUT/ab-$run > $OUT/ab-$run.log 2>&1
  python3 - "$OUT/ab-$run/report.md" "$run" <<'PY'
import sys,re,statistics as st
rows=[l for l in open(sys.argv[1]) if re.match(r"\| B=1 H=16 N=\d+ d=64( causal)? \| (fwd|bwd|fwd\+bwd) \|",l)]
out={}
for i,l in enumerate(rows):
    c=[x.strip() for x in l.strip().strip('|').split('|')]
    out.setdefault(c[1],[]).append(float(c[4]))
print(sys.argv[2], ' '.join(f"{d}: first {v[0]:.1f} others median {st.median(v[1:]):.1f} min {min(v[1:]):.1f} max {max(v[1:]):.1f};" for d,v in out.items()))
PY
done
