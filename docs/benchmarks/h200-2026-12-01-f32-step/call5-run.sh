set -u
. .device/env.sh
D5=$(pwd)/.device/r5; L=$OUT/logs; mkdir -p $L
R_=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin; F=$D5/f.fatbin
sha256sum $R_ $F > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
ROOT=$(pwd)
cd flash-djl-cuda/src/test/python
timeout 90 python3 bench_kernels.py $R_ $F --dtype f32 --d 32,64,96,128 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-r-f.log 2>&1; snap
tail -n 27 $L/bench-r-f.log
( cd $ROOT; JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true $JAVA_TOOL_OPTIONS" timeout 260 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1; echo "junit rc=$?" >> $L/gpu-tests.log ) &
JP=$!
timeout 60 python3 same_outputs.py $F $R_ --seed 1501 --d 32,64,96,128 > $L/same-f-r.log 2>&1
timeout 90 python3 check_kernels.py $R_ --dtype f32 --seed 1502 > $L/check-kernels-f32.log 2>&1
timeout 40 python3 f32_error_study.py $R_ --seeds 40 --d 32,64,128 > $L/err-r.log 2>&1; snap
wait $JP; snap
tail -n 3 $L/same-f-r.log; tail -n 1 $L/check-kernels-f32.log; grep "^| [0-9]" $L/err-r.log; tail -n 8 $L/gpu-tests.log
