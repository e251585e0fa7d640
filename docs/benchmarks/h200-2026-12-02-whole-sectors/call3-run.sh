set -u
. .device/env.sh > /dev/null
R=$(pwd)/.device/s16c3; L=$OUT/logs; mkdir -p $L
N=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin
sha256sum $N > $L/fatbins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
( JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true ${JAVA_TOOL_OPTIONS:-}" timeout 290 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1 ) &
JP=$!
cd flash-djl-cuda/src/test/python
# the final build: float32 rows in whole sectors (store_acc_row), the 3xTF32 forward's O through it
timeout 90 python3 check_kernels.py $N --d 32,64,96,128,256 --dtype f32 --seed 17301 > $L/check-kernels-f32.log 2>&1; snap
timeout 60 python3 check_kernels.py $N --d 32,64,96,128,192,256 --dtype bf16 --quick --seed 17302 > $L/check-kernels-bf16.log 2>&1; snap
timeout 60 python3 check_bias.py $N --d 64,128,256 --seed 17303 > $L/check-bias.log 2>&1; snap
timeout 60 python3 check_sequences.py $N --dtype f32bf16 --seed 17304 > $L/check-seq-f32bf16.log 2>&1; snap
timeout 40 python3 check_dropout.py $N --seed 17305 > $L/check-dropout.log 2>&1; snap
wait $JP; snap
timeout 150 python3 bench_precision.py $N --d 64,128 --n 1024,2048,4096,8192,16384 --reps 10 > $L/bench-precision.log 2>&1; snap
for f in $L/check-*.log; do echo "$(basename $f): $(tail -n 1 $f)"; done
grep -E "tests (successful|failed|aborted|found|started)" $L/gpu-tests.log
grep -B2 -A6 "MethodSource\|AssertionFailed\|Exception" $L/gpu-tests.log | head -40
tail -n 30 $L/bench-precision.log
