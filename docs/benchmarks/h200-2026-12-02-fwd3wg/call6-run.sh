set -u
R=$(pwd)/.device/r9; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
for d in 64 128 192 256; do timeout 40 python3 same_outputs.py $R/H$d.cubin $R/T$d.cubin --dtype bfloat16 --d $d --seed 96$d > $L/same-T$d.log 2>&1; echo "same d=$d rc=$?" >> $L/same.txt; done
FLASH_FWD_FORM=long timeout 40 python3 same_outputs.py $R/H64.cubin $R/T64.cubin --dtype bfloat16 --d 64 --seed 9664 > $L/same-T64-long.log 2>&1; echo "same d=64 long rc=$?" >> $L/same.txt; snap
cat $L/same.txt
timeout 120 python3 bench_kernels.py $R/R64.cubin $R/H64.cubin --dtype bf16 --d 64 --n 2048,16384 --reps 10 --rounds 2 > $L/bench-R-H-64.log 2>&1
for d in 128 192 256; do timeout 60 python3 bench_kernels.py $R/R$d.cubin $R/H$d.cubin --dtype bf16 --d $d --n 2048,16384 --reps 10 --rounds 2 > $L/bench-R-H-$d.log 2>&1; done; snap
for d in 64 128 192 256; do timeout 60 python3 bench_kernels.py $R/T$d.cubin $R/R$d.cubin --dtype bf16 --d $d --n 2048,16384 --reps 10 --rounds 2 > $L/bench-T-R-$d.log 2>&1; done; snap
for f in $L/bench-*.log; do echo "$(basename $f): $(grep 'after/before' $f | tail -1)"; grep -A6 "after/before fwd" $f | tail -4; done
