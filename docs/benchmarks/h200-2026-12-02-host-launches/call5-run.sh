set -u
. .device/env.sh > /dev/null
L=$OUT/logs; mkdir -p $L
H=docs/benchmarks/h200-2026-12-02-host-launches
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
timeout 90 $JUNIT --scan-class-path --include-classname '.*(CudaWorkspaceTest|CudaSavedCopiesTest|CudaGraphLaunchTest)' --include-tag gpu --details=tree --disable-ansi-colors > $L/new-tests.log 2>&1; snap
grep -E "tests (successful|failed)" $L/new-tests.log
B="$JAVA -cp $CP io.flashdjl.examples.bench.AttentionBenchmark --grid latency --backends cuda,sdpa-cudnn --allocator default"
timeout 90 $B --out $L/lat-f16 > $L/lat-f16.log 2>&1
timeout 90 $B --dtype float32 --precision bfloat16 --out $L/lat-f32bf16 > $L/lat-f32bf16.log 2>&1; snap
( timeout 270 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1 ); snap
python3 $H/overhead_summary.py $L/lat-*/report.md
grep -E "tests (successful|failed|aborted|found|started)" $L/gpu-tests.log
grep -B2 -A8 "MethodSource\|AssertionFailed\|JUnitException" $L/gpu-tests.log | head -30
