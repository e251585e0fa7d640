set -u
. .device/env.sh > /dev/null
L=$OUT/logs; mkdir -p $L
H=docs/benchmarks/h200-2026-12-02-host-launches
# the spread between JVMs: plain, pinned to one vCPU set, and with one intra-op thread, in turns
G="io.flashdjl.examples.bench.AttentionBenchmark --grid latency --backends cuda --allocator default"
for i in 1 2; do
  timeout 40 $JAVA -cp $CP $G --out $L/lat-plain-$i > $L/lat-plain-$i.log 2>&1
  timeout 40 taskset -c 2-5 $JAVA -cp $CP $G --out $L/lat-pinned-$i > $L/lat-pinned-$i.log 2>&1
  timeout 40 $JAVA -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 -cp $CP $G --out $L/lat-onethread-$i > $L/lat-onethread-$i.log 2>&1
done
tar czf $OUT/logs.tgz -C $OUT logs
python3 $H/overhead_summary.py $L/lat-*/report.md
