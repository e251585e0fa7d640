set -u
. .device/env.sh > /dev/null
L=$OUT/logs; mkdir -p $L
H=docs/benchmarks/h200-2026-12-02-host-launches
# cuda alone, as call 3 ran it (call 5 ran cuda beside sdpa-cudnn)
B="$JAVA -cp $CP io.flashdjl.examples.bench.AttentionBenchmark --grid latency --backends cuda --allocator default"
timeout 50 $B --out $L/lat-f16-1 > $L/lat-f16-1.log 2>&1
timeout 50 $B --out $L/lat-f16-2 > $L/lat-f16-2.log 2>&1
timeout 50 $B --dtype float32 --precision bfloat16 --out $L/lat-f32bf16 > $L/lat-f32bf16.log 2>&1
tar czf $OUT/logs.tgz -C $OUT logs
python3 $H/overhead_summary.py $L/lat-*/report.md
