set -u
R=$(pwd)/.device/r5
L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
timeout 60 python3 check_kernels.py $R/P3.cubin --dtype f32 --d 32,64 --seed 4501 > $L/check-kernels-p3.log 2>&1
timeout 60 python3 check_bias.py $R/P3.cubin --dtype f32 --seed 4502 > $L/check-bias-p3.log 2>&1
timeout 60 python3 same_outputs.py $R/P1.cubin $R/P3.cubin --dtype float32 --d 32,64 --seed 4503 > $L/same-p1-p3.log 2>&1; snap
tail -n 1 $L/check-*.log $L/same-p1-p3.log
timeout 120 python3 bench_kernels.py $R/P3.cubin $R/P1.cubin --dtype f32 --d 32,64 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-p3-p1.log 2>&1; snap
grep -E "^\| f32" $L/bench-p3-p1.log | tail -12; tail -n 1 $L/bench-p3-p1.log
