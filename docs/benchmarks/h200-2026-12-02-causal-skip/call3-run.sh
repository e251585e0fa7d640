set -u
R=$(pwd)/.device/c3; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
timeout 100 python3 check_kernels.py $R/A.cubin --d 64,96,128,192,256 --dtype bf16 --seed 13001 > $L/check-kernels-bf16.log 2>&1
timeout 100 python3 check_kernels.py $R/A.cubin --d 64,96,128,192,256 --dtype f16 --seed 13002 > $L/check-kernels-f16.log 2>&1
FLASH_FWD_FORM=long timeout 60 python3 check_kernels.py $R/A.cubin --d 64 --dtype bf16 --seed 13003 > $L/check-kernels-64-long.log 2>&1
snap; tail -n 1 $L/check-*.log
if grep -q " 0 failed" $L/check-kernels-bf16.log; then
for d in 128 96 192 256; do timeout 70 python3 bench_kernels.py $R/A.cubin $R/K.cubin --dtype bf16 --d $d --n 2048,16384 --reps 10 --rounds 2 > $L/bench-A-K-$d.log 2>&1; snap; done
timeout 90 python3 bench_kernels.py $R/A.cubin $R/K.cubin --dtype bf16 --d 64 --n 1024,2048,16384 --reps 10 --rounds 2 > $L/bench-A-K-64.log 2>&1; snap
fi
timeout 60 python3 check_bias.py $R/A.cubin --d 128 --seed 13004 > $L/check-bias-128.log 2>&1; snap; tail -n 1 $L/check-bias-128.log
timeout 60 python3 check_sequences.py $R/A.cubin --dtype bf16 --seed 13005 > $L/check-seq-bf16.log 2>&1; snap; tail -n 1 $L/check-seq-bf16.log
for f in $L/bench-*.log; do echo "$(basename $f)"; sed -n '/after\/before fwd/,$p' $f | grep -v -- '---'; done
