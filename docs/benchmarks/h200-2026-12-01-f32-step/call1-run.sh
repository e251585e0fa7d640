set -u
. .device/env.sh
R=$(pwd)/.device/r1; L=$OUT/logs; mkdir -p $L
S=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin; H=$R/head.fatbin
sha256sum $S $H > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
( JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true $JAVA_TOOL_OPTIONS" timeout 300 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1; echo "junit rc=$?" >> $L/gpu-tests.log ) &
JP=$!
cd flash-djl-cuda/src/test/python
python3 same_outputs.py $H $S --seed 1101 > $L/same-head-s.log 2>&1; snap
python3 check_kernels.py $S --dtype f32 --seed 1102 > $L/check-kernels-f32.log 2>&1; snap
python3 check_bias.py $S --dtype f32 --seed 1103 > $L/check-bias-f32.log 2>&1
python3 check_sequences.py $S --dtype f32 --seed 1103 > $L/check-seq-f32.log 2>&1
python3 check_dropout.py $S --seed 1103 > $L/check-dropout.log 2>&1; snap
wait $JP; snap
python3 bench_kernels.py $S $H --dtype f32 --d 32,64,96,128 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-s-head.log 2>&1; snap
python3 bench_bias.py $H --dtype float32 --d 32,64 --n 1024,4096 --window-n 0 --reps 10 --seed 5 > $L/bias-head.log 2>&1; snap
python3 bench_bias.py $S --dtype float32 --d 32,64 --n 1024,4096 --window-n 0 --reps 10 --seed 5 > $L/bias-s.log 2>&1; snap
tail -3 $L/*.log | head -80
