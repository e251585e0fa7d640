set -u
. .device/env.sh
R=$(pwd)/.device/r3; L=$OUT/logs; mkdir -p $L
S1=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin; S2=$R/s2.fatbin; S4=$R/s4.fatbin; W4=$R/wg4.fatbin; H=$R/head.fatbin
sha256sum $S1 $S2 $S4 $W4 $H > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
ROOT=$(pwd)
cd flash-djl-cuda/src/test/python
timeout 100 python3 bench_kernels.py $S1 $W4 --dtype f32 --d 32,64,96,128 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-s1-wg4.log 2>&1; snap
tail -n 27 $L/bench-s1-wg4.log
timeout 60 python3 bench_kernels.py $S2 $S1 --dtype f32 --d 32,64,128 --n 1024,16384 --reps 10 --rounds 2 > $L/bench-s2-s1.log 2>&1; snap
tail -n 3 $L/bench-s2-s1.log
timeout 90 python3 bench_bias.py $H --dtype float32 --d 32,64,128 --n 1024,4096 --window-n 0 --reps 10 --seed 5 > $L/bias-head.log 2>&1; snap
timeout 90 python3 bench_bias.py $S1 --dtype float32 --d 32,64,128 --n 1024,4096 --window-n 0 --reps 10 --seed 5 > $L/bias-s1.log 2>&1; snap
grep "^| [0-9]" $L/bias-head.log; echo; grep "^| [0-9]" $L/bias-s1.log
( cd $ROOT; JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true $JAVA_TOOL_OPTIONS" timeout 280 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1; echo "junit rc=$?" >> $L/gpu-tests.log ) &
JP=$!
timeout 100 python3 check_kernels.py $S1 --dtype f32 --seed 1301 > $L/check-kernels-s1.log 2>&1
timeout 60 python3 check_bias.py $S1 --dtype f32 --seed 1302 > $L/check-bias-s1.log 2>&1
timeout 60 python3 check_sequences.py $S1 --dtype f32 --seed 1302 > $L/check-seq-s1.log 2>&1
timeout 60 python3 check_dropout.py $S1 --seed 1302 > $L/check-dropout-s1.log 2>&1; snap
for F in $S1 $S2 $S4; do n=$(basename $(dirname $F))-$(basename $F .fatbin); timeout 40 python3 f32_error_study.py $F --seeds 40 --d 32,64,128 > $L/err-$n.log 2>&1; done; snap
wait $JP; snap
for f in $L/check-*.log; do echo "== $f"; tail -n 1 $f; done; tail -n 8 $L/gpu-tests.log
for f in $L/err-*.log; do echo "== $f"; grep "^| [0-9]" $f; done
