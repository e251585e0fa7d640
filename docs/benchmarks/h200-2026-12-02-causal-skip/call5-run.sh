set -u
R=$(pwd)/.device/c5; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/R.cubin $R/M.fatbin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
timeout 80 python3 check_kernels.py $R/R.cubin --d 64,96,128,192,256 --dtype bf16 --seed 15001 > $L/check-kernels-bf16.log 2>&1; snap
tail -n 1 $L/check-kernels-bf16.log
if grep -q " 0 failed" $L/check-kernels-bf16.log; then
for d in 128 256 192; do timeout 50 python3 bench_kernels.py $R/R.cubin $R/M.fatbin --dtype bf16 --d $d --n 2048,16384 --reps 10 --rounds 2 > $L/bench-R-M-$d.log 2>&1; snap; done
timeout 60 python3 check_kernels.py $R/R.cubin --d 64,96,128,192,256 --dtype f16 --seed 15002 > $L/check-kernels-f16.log 2>&1; snap
timeout 50 python3 bench_kernels.py $R/R.cubin $R/M.fatbin --dtype bf16 --d 64 --n 1024,2048,16384 --reps 10 --rounds 2 > $L/bench-R-M-64.log 2>&1; snap
timeout 40 python3 bench_kernels.py $R/R.cubin $R/M.fatbin --dtype bf16 --d 96 --n 2048,16384 --reps 10 --rounds 2 > $L/bench-R-M-96.log 2>&1; snap
timeout 40 python3 check_bias.py $R/R.cubin --d 128,256 --seed 15003 > $L/check-bias.log 2>&1; snap
FLASH_FWD_FORM=long timeout 30 python3 check_kernels.py $R/R.cubin --d 64 --dtype bf16 --seed 15004 > $L/check-kernels-64-long.log 2>&1; snap
timeout 40 python3 check_dropout.py $R/R.cubin --seed 15005 > $L/check-dropout.log 2>&1; snap
fi
tail -qn 1 $L/check-*.log
for f in $L/bench-*.log; do echo "$(basename $f)"; sed -n '/after\/before fwd/,$p' $f | grep -v -- '---'; done
