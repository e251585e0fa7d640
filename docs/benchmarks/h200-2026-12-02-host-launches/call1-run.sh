set -u
. .device/env.sh > /dev/null
L=$OUT/logs; mkdir -p $L
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
nproc >> $L/gpu.txt; grep -m1 "model name" /proc/cpuinfo >> $L/gpu.txt; uname -r >> $L/gpu.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
# the driver's own floor, in C
nvcc -O2 -arch=sm_90 -o /tmp/launch_cost flash-djl-cuda/src/test/cuda/launch_cost.cu -lcuda > $L/launch-cost-build.log 2>&1
/tmp/launch_cost > $L/launch-cost.log 2>&1; cat $L/launch-cost.log; snap
B="$JAVA -cp $CP io.flashdjl.examples.bench.AttentionBenchmark --grid latency --backends cuda"
timeout 100 $B --out $OUT/latency-async > $L/latency-async.log 2>&1; snap
timeout 100 $B --allocator default --out $OUT/latency-default > $L/latency-default.log 2>&1; snap
timeout 100 $B --allocator default --dtype float32 --precision bfloat16 --out $OUT/latency-f32bf16 > $L/latency-f32bf16.log 2>&1; snap
timeout 100 $B --allocator async --dtype float32 --precision bfloat16 --out $OUT/latency-f32bf16-async > $L/latency-f32bf16-async.log 2>&1; snap
timeout 120 $JAVA -cp "$CP" io.flashdjl.cuda.HostCostProbe 128 > $L/host-probe-default.log 2>&1; snap
for d in latency-async latency-default latency-f32bf16 latency-f32bf16-async; do
  echo "== $d"; grep -A30 "per-call overhead" $OUT/$d/report.md | grep "^| B=" | awk -F'|' '{print $2 $3 $6}' | tr -s ' ' | paste -sd ';' | fold -w 400
done
cat $L/host-probe-default.log | tail -n 15
