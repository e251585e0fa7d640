set -u
R=$(pwd)/.device/r2
L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
timeout 60 python3 check_kernels.py $R/V1.cubin --dtype f32 --d 32,64 --seed 4201 > $L/check-kernels-v1.log 2>&1
tail -n 1 $L/check-kernels-v1.log
timeout 60 python3 check_bias.py $R/V1.cubin --dtype f32 --seed 4202 > $L/check-bias-v1.log 2>&1
timeout 60 python3 check_sequences.py $R/V1.cubin --dtype f32 --seed 4203 > $L/check-seq-v1.log 2>&1
timeout 60 python3 same_outputs.py $R/H.cubin $R/V1.cubin --dtype float32 --d 32,64 --seed 4205 > $L/same-h-v1.log 2>&1; snap
tail -n 1 $L/check-*.log $L/same-h-v1.log
timeout 150 python3 bench_kernels.py $R/V1.cubin $R/H.cubin --dtype f32 --d 32,64 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-v1-h.log 2>&1; snap
timeout 120 python3 bench_kernels.py $R/V1b.cubin $R/V1.cubin --dtype f32 --d 32,64 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-v1b-v1.log 2>&1; snap
timeout 120 python3 bench_kernels.py $R/V2.cubin $R/V1.cubin --dtype f32 --d 32,64 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-v2-v1.log 2>&1; snap
timeout 60 python3 check_kernels.py $R/V2.cubin --dtype f32 --d 32,64 --seed 4206 > $L/check-kernels-v2.log 2>&1
timeout 100 python3 f32_error_study.py $R/V1.cubin --seeds 30 --d 32,64 > $L/err-v1.log 2>&1; snap
timeout 100 python3 f32_error_study.py $R/V2.cubin --seeds 30 --d 32,64 > $L/err-v2.log 2>&1; snap
tail -n 14 $L/bench-v1-h.log; tail -n 8 $L/bench-v1b-v1.log $L/bench-v2-v1.log; tail -n 1 $L/check-kernels-v2.log; tail -n 12 $L/err-v1.log $L/err-v2.log
