set -u
R=$(pwd)/.device/r6; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
timeout 30 python3 check_kernels.py $R/LAG.cubin --dtype bf16 --d 96,128 --seed 9601 > $L/check-kernels-lag.log 2>&1; snap
tail -n 1 $L/check-kernels-lag.log
timeout 120 python3 bench_kernels.py $R/LAG.cubin $R/M.cubin --dtype bf16 --d 128,96 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-lag.log 2>&1; snap
grep -A16 "after/before fwd" $L/bench-lag.log | tail -15
