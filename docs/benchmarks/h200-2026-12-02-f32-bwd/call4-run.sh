set -u
R=$(pwd)/.device/r4
L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
timeout 80 python3 check_kernels.py $R/P12.cubin --dtype f32 --seed 4401 > $L/check-kernels-p12.log 2>&1
timeout 60 python3 check_bias.py $R/P12.cubin --dtype f32 --seed 4402 > $L/check-bias-p12.log 2>&1
timeout 60 python3 check_sequences.py $R/P12.cubin --dtype f32 --seed 4403 > $L/check-seq-p12.log 2>&1
timeout 60 python3 same_outputs.py $R/H.cubin $R/P12.cubin --dtype float32 --seed 4404 > $L/same-h-p12.log 2>&1; snap
tail -n 1 $L/check-*.log $L/same-h-p12.log
timeout 200 python3 bench_kernels.py $R/P1.cubin $R/H.cubin --dtype f32 --d 32,64,96,128 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-p1-h.log 2>&1; snap
timeout 150 python3 bench_kernels.py $R/P12.cubin $R/P1.cubin --dtype f32 --d 32,64,96,128 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-p12-p1.log 2>&1; snap
for c in H P12; do timeout 80 python3 bench_deterministic.py $R/$c.cubin --dtype f32 --d 32,64,128 --n 1024,4096,16384 --reps 10 > $L/det-$c.log 2>&1; snap; done
timeout 120 python3 f32_error_study.py $R/P12.cubin --seeds 30 --d 32,64,128 > $L/err-p12.log 2>&1; snap
grep -E "^\| f32" $L/bench-p1-h.log | tail -24; tail -n 2 $L/bench-p1-h.log; tail -n 2 $L/bench-p12-p1.log; tail -n 12 $L/err-p12.log; paste <(tail -n 18 $L/det-H.log | cut -c1-80) <(tail -n 18 $L/det-P12.log | cut -d'|' -f6-7)
