set -u
. .device/env.sh > /dev/null
L=$OUT/logs; mkdir -p $L
H=docs/benchmarks/h200-2026-12-02-host-launches
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
nvcc -O2 -arch=sm_90 -o /tmp/launch_cost flash-djl-cuda/src/test/cuda/launch_cost.cu -lcuda > $L/launch-cost-build.log 2>&1
/tmp/launch_cost > $L/launch-cost.log 2>&1; snap
timeout 150 $JAVA -cp "$CP" io.flashdjl.cuda.GraphLaunchProbe > $L/graph-probe.log 2>&1; snap
# the latency grid (caching allocator) by the fewest launches that go as a graph (99: none)
for dt in f16 f32bf16; do
  X=""; [ $dt = f32bf16 ] && X="--dtype float32 --precision bfloat16"
  for mn in 1 2 4 99; do
    [ $dt = f32bf16 ] && [ $mn = 2 ] && continue
    timeout 60 $JAVA -Dflashdjl.cuda.graphs.minLaunches=$mn -cp $CP io.flashdjl.examples.bench.AttentionBenchmark --grid latency --backends cuda --allocator default $X --out $L/lat-$dt-min$mn > $L/lat-$dt-min$mn.log 2>&1
  done
done; snap
( timeout 270 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1 ); snap
cat $L/launch-cost.log | tail -n 8; grep "^|" $L/graph-probe.log
python3 $H/overhead_summary.py $L/lat-*/report.md
grep -E "tests (successful|failed|aborted|found|started)" $L/gpu-tests.log
grep -B2 -A8 "MethodSource\|AssertionFailed\|JUnitException" $L/gpu-tests.log | head -30
