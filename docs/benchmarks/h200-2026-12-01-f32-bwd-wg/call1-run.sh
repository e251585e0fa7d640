set -u
R=$(pwd)/.device/r1; L=$OUT/logs; mkdir -p $L
N=$R/n1.fatbin; O=$R/old.fatbin
sha256sum $N $O > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
cd flash-djl-cuda/src/test/python
timeout 150 python3 check_kernels.py $N --dtype f32 --seed 3701 > $L/check-kernels-n1.log 2>&1; snap
tail -3 $L/check-kernels-n1.log
timeout 60 python3 check_bias.py $N --dtype f32 --seed 3702 > $L/check-bias-n1.log 2>&1
timeout 60 python3 check_sequences.py $N --dtype f32 --seed 3702 > $L/check-seq-n1.log 2>&1
timeout 60 python3 check_dropout.py $N --seed 3702 > $L/check-dropout-n1.log 2>&1; snap
for f in $L/check-*.log; do echo "== $f"; tail -2 $f; done
timeout 150 python3 bench_kernels.py $N $O --dtype f32 --d 32,64,96,128 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-n1-old.log 2>&1; snap
tail -28 $L/bench-n1-old.log
for F in $O $N; do timeout 60 python3 f32_error_study.py $F --seeds 40 --d 32,64,128 > $L/err-$(basename $F .fatbin).log 2>&1; snap; grep "^| [0-9]" $L/err-$(basename $F .fatbin).log; done
