set -u
. .device/env.sh > /dev/null
R=$(pwd)/.device/r2; L=$OUT/logs; mkdir -p $L
W=$R/wg4.fatbin; W16=$R/wg16.fatbin; H=$R/head.fatbin
sha256sum $W $W16 $H > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
cd flash-djl-cuda/src/test/python
timeout 150 python3 check_kernels.py $W --dtype f32 --seed 1201 > $L/check-kernels-wg4.log 2>&1; snap
tail -3 $L/check-kernels-wg4.log
timeout 60 python3 check_bias.py $W --dtype f32 --seed 1202 > $L/check-bias-wg4.log 2>&1
timeout 60 python3 check_sequences.py $W --dtype f32 --seed 1202 > $L/check-seq-wg4.log 2>&1
timeout 60 python3 check_dropout.py $W --seed 1202 > $L/check-dropout-wg4.log 2>&1; snap
for f in $L/check-*.log; do echo "== $f"; tail -2 $f; done
timeout 120 python3 bench_kernels.py $W $H --dtype f32 --d 32,64,96,128 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-wg4-head.log 2>&1; snap
tail -28 $L/bench-wg4-head.log
for F in $H $W $W16; do timeout 60 python3 f32_error_study.py $F --seeds 40 --d 32,64,128 > $L/err-$(basename $F .fatbin).log 2>&1; snap; tail -12 $L/err-$(basename $F .fatbin).log; done
timeout 60 python3 bench_kernels.py $W16 $W --dtype f32 --d 64,128 --n 4096,16384 --reps 10 --rounds 2 > $L/bench-wg16-wg4.log 2>&1; snap
tail -10 $L/bench-wg16-wg4.log
