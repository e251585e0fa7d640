set -u
R=$(pwd)/.device/s16c2; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
gunzip -kf $R/E4.cubin.gz $R/E3.cubin.gz; N=$R/N.fatbin
sha256sum $N $R/E4.cubin $R/E3.cubin > $L/fatbins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
cd flash-djl-cuda/src/test/python
# E4 / E3: a quarter / a third of d = 64's forward exponents on the FMA pipe (ex2_fma); N: main's Maven fatbin
for k in 4 3; do
  timeout 50 python3 check_kernels.py $R/E$k.cubin --d 64 --dtype bf16 --seed 1720$k > $L/check-kernels-E$k-bf16.log 2>&1; snap
  FLASH_FWD_FORM=long timeout 40 python3 check_kernels.py $R/E$k.cubin --d 64 --dtype bf16 --seed 1721$k > $L/check-kernels-E$k-long.log 2>&1; snap
done
timeout 40 python3 check_kernels.py $R/E4.cubin --d 64 --dtype f16 --seed 17220 > $L/check-kernels-E4-f16.log 2>&1; snap
timeout 40 python3 check_bias.py $R/E4.cubin --d 64 --seed 17221 > $L/check-bias-E4.log 2>&1; snap
timeout 120 python3 bench_kernels.py $R/E4.cubin $N --dtype bf16,f16 --d 64 --n 512,1024,2048,4096,16384 --reps 10 --rounds 2 > $L/bench-E4-N.log 2>&1; snap
timeout 70 python3 bench_kernels.py $R/E3.cubin $N --dtype bf16 --d 64 --n 512,1024,2048,4096,16384 --reps 10 --rounds 2 > $L/bench-E3-N.log 2>&1; snap
for f in $L/check-*.log; do echo "$(basename $f): $(tail -n 1 $f)"; done
for f in $L/bench-*.log; do echo "$(basename $f)"; sed -n '/after\/before fwd/,$p' $f | grep -v -- '---'; done
