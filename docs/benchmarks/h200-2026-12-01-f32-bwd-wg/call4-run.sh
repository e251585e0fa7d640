set -u
R=$(pwd)/.device/r4; L=$OUT/logs; mkdir -p $L
X=$R/xr.fatbin; F=$R/f.fatbin
sha256sum $X $F > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
cd flash-djl-cuda/src/test/python
timeout 60 python3 check_kernels.py $X --dtype f32 --d 128 --seed 3741 > $L/check-kernels-x-d128.log 2>&1; snap
tail -n 2 $L/check-kernels-x-d128.log
timeout 60 python3 bench_kernels.py $X $F --dtype f32 --d 128 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-x-f.log 2>&1; snap
tail -n 9 $L/bench-x-f.log
timeout 50 python3 check_bias.py $X --dtype f32 --seed 3742 > $L/check-bias-x.log 2>&1
timeout 50 python3 check_sequences.py $X --dtype f32 --seed 3742 > $L/check-seq-x.log 2>&1
timeout 50 python3 check_dropout.py $X --seed 3742 > $L/check-dropout-x.log 2>&1; snap
for f in $L/check-*.log; do echo "== $f"; tail -n 1 $f; done
timeout 40 python3 f32_error_study.py $X --seeds 40 --d 128 > $L/err-x.log 2>&1; snap
grep "^| [0-9]" $L/err-x.log
