set -u
. .device/env.sh > /dev/null
L=$OUT/logs; mkdir -p $L
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin
sha256sum $F > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
ROOT=$(pwd)
( JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true $JAVA_TOOL_OPTIONS" timeout 270 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1; echo "junit rc=$?" >> $L/gpu-tests.log ) &
JP=$!
cd flash-djl-cuda/src/test/python
timeout 60 python3 check_bias.py $F --dtype f32 --seed 3751 > $L/check-bias-f32.log 2>&1
timeout 60 python3 check_kernels.py $F --dtype f32 --d 32,64 --seed 3752 > $L/check-kernels-f32-d32-64.log 2>&1; snap
wait $JP; snap
tail -n 1 $L/check-*.log; tail -n 7 $L/gpu-tests.log
timeout 60 python3 bench_deterministic.py $F --dtype f32 --d 32,64,128 --n 1024,4096,16384 --reps 10 > $L/deterministic-f32.log 2>&1; snap
tail -n 14 $L/deterministic-f32.log
