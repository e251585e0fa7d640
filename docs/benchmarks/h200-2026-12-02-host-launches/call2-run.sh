set -u
. .device/env.sh > /dev/null
L=$OUT/logs; mkdir -p $L
H=docs/benchmarks/h200-2026-12-02-host-launches
nvidia-smi --query-gpu=name,driver_version --format=csv > $L/gpu.txt 2>&1
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
# graphs against single launches, bit for bit; then every GPU test with graphs on (no sync mode: that launches one by one)
timeout 60 $JUNIT --scan-class-path --include-classname '.*CudaGraphLaunchTest' --include-tag gpu --details=tree --disable-ansi-colors > $L/graph-test.log 2>&1; snap
grep -E "tests (successful|failed)|graphs unavailable|AssertionFailed" $L/graph-test.log | head
( timeout 300 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1 ) ; snap
grep -E "tests (successful|failed|aborted|found|started)" $L/gpu-tests.log
grep -B2 -A8 "MethodSource\|AssertionFailed" $L/gpu-tests.log | head -40
# the latency grid, graphs on and off in alternating JVMs (the caching allocator)
B="$JAVA -cp $CP io.flashdjl.examples.bench.AttentionBenchmark --grid latency --backends cuda --allocator default"
OFF="-Dflashdjl.cuda.graphs=false"
for i in 1 2; do
  timeout 60 $B --out $OUT/lat-on-$i > $L/lat-on-$i.log 2>&1
  timeout 60 $JAVA $OFF -cp $CP io.flashdjl.examples.bench.AttentionBenchmark --grid latency --backends cuda --allocator default --out $OUT/lat-off-$i > $L/lat-off-$i.log 2>&1
done; snap
timeout 60 $B --dtype float32 --precision bfloat16 --out $OUT/lat-f32bf16-on > $L/lat-f32bf16-on.log 2>&1
timeout 60 $JAVA $OFF -cp $CP io.flashdjl.examples.bench.AttentionBenchmark --grid latency --backends cuda --allocator default --dtype float32 --precision bfloat16 --out $OUT/lat-f32bf16-off > $L/lat-f32bf16-off.log 2>&1; snap
timeout 90 $JAVA -cp "$CP" io.flashdjl.cuda.HostCostProbe 128 > $L/host-probe.log 2>&1; snap
grep -E "CudaBackend|FlashAttention" $L/host-probe.log
python3 $H/overhead_summary.py $OUT/lat-*/report.md
