set -u
R=$(pwd)/.device/s16c6; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
gunzip -kf $R/Q64.cubin.gz $R/Q128.cubin.gz; N=$R/N.fatbin
sha256sum $N $R/Q64.cubin $R/Q128.cubin > $L/fatbins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
cd flash-djl-cuda/src/test/python
# Q64 / Q128: the deterministic dq kernel with Q and dO as register operands (d = 64 / 128 only)
timeout 50 python3 check_kernels.py $R/Q64.cubin --d 64 --dtype bf16 --seed 17601 > $L/check-kernels-Q64-bf16.log 2>&1; snap
timeout 50 python3 check_kernels.py $R/Q128.cubin --d 128 --dtype bf16 --seed 17602 > $L/check-kernels-Q128-bf16.log 2>&1; snap
timeout 40 python3 check_kernels.py $R/Q64.cubin --d 64 --dtype f16 --quick --seed 17603 > $L/check-kernels-Q64-f16.log 2>&1; snap
timeout 40 python3 check_kernels.py $R/Q128.cubin --d 128 --dtype f16 --quick --seed 17604 > $L/check-kernels-Q128-f16.log 2>&1; snap
timeout 40 python3 check_bias.py $R/Q64.cubin --d 64 --seed 17605 > $L/check-bias-Q64.log 2>&1; snap
timeout 40 python3 check_bias.py $R/Q128.cubin --d 128 --seed 17606 > $L/check-bias-Q128.log 2>&1; snap
for who in N Q64 Q128; do
  case $who in N) B=$N; DD=64,128;; Q64) B=$R/Q64.cubin; DD=64;; Q128) B=$R/Q128.cubin; DD=128;; esac
  timeout 90 python3 bench_deterministic.py $B --d $DD --n 1024,4096,16384 --reps 10 > $L/det-$who.log 2>&1; snap
done
for f in $L/check-*.log; do echo "$(basename $f): $(tail -n 1 $f)"; done
for f in $L/det-*.log; do echo "$(basename $f)"; grep "^| [0-9]" $f; done
