set -u
R=$(pwd)/.device/s16c9; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
for f in $R/*.gz; do gunzip -kf $f; done; N=$R/N.fatbin
sha256sum $N $R/*.cubin > $L/fatbins.txt
cd flash-djl-cuda/src/test/python
# A64 / A128: the dq kernel's next S and dP issued before dQ's wait (d = 64 / 128 only)
timeout 40 python3 check_kernels.py $R/A64.cubin --d 64 --dtype bf16 --seed 17901 > $L/check-kernels-A64.log 2>&1; snap
timeout 40 python3 check_kernels.py $R/A128.cubin --d 128 --dtype bf16 --seed 17902 > $L/check-kernels-A128.log 2>&1; snap
timeout 90 python3 bench_deterministic.py $R/A64.cubin --before $N --d 64 --n 1024,4096,16384 --reps 10 > $L/det-A64-N.log 2>&1; snap
timeout 90 python3 bench_deterministic.py $R/A128.cubin --before $N --d 128 --n 1024,4096,16384 --reps 10 > $L/det-A128-N.log 2>&1; snap
for f in $L/check-*.log; do echo "$(basename $f): $(tail -n 1 $f)"; done
for f in $L/det-*.log; do echo "$(basename $f)"; grep "^| [0-9]" $f; done
