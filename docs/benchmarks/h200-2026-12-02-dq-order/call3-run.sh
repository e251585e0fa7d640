set -u
R=$(pwd)/.device/r3x; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
for v in L2_64 L6_64; do timeout 30 python3 check_kernels.py $R/$v.cubin --dtype bf16 --d 64 --seed 9164 > $L/check-kernels-$v.log 2>&1; done
timeout 40 python3 check_bias.py $R/K64c.cubin --d 64 --seed 9264 > $L/check-bias-K64c.log 2>&1; snap
tail -n 1 $L/check-*.log
for v in L2_64 L6_64; do timeout 60 python3 bench_kernels.py $R/$v.cubin $R/K64c.cubin --dtype bf16 --d 64 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-$v.log 2>&1; snap; echo $v; tail -n 1 $L/bench-$v.log; done
timeout 100 python3 bench_kernels.py $R/K64c.cubin $R/H64.cubin --dtype bf16,f16 --d 64 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-K64c.log 2>&1; snap; echo K64c; tail -n 1 $L/bench-K64c.log
for c in K64c H64; do timeout 50 python3 bench_deterministic.py $R/$c.cubin --d 64 --n 4096,16384 --reps 10 > $L/det-$c.log 2>&1; snap; done
paste <(tail -n 6 $L/det-H64.log) <(tail -n 6 $L/det-K64c.log | cut -d'|' -f5-7)
