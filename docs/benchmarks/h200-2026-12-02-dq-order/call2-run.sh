set -u
R=$(pwd)/.device/r2; H=$(pwd)/.device/r1; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin $H/H*.cubin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
for v in L2_128 L1_128 L2_96 L1_96; do d=${v#*_}; timeout 30 python3 check_kernels.py $R/$v.cubin --dtype bf16 --d $d --seed 81$d > $L/check-kernels-$v.log 2>&1; done; snap
tail -n 1 $L/check-*.log
for v in L2_128 L1_128 L2_96 L1_96; do d=${v#*_}; timeout 80 python3 bench_kernels.py $R/$v.cubin $H/H$d.cubin --dtype bf16 --d $d --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-$v.log 2>&1; snap; echo $v; tail -n 1 $L/bench-$v.log; done
