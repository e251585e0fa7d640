set -u
R=$(pwd)/.device/r8; L=$OUT/logs; mkdir -p $L
sha256sum $R/*.cubin > $L/cubins.txt
cd flash-djl-cuda/src/test/python
timeout 120 python3 bench_kernels.py $R/A128.cubin $R/M128.cubin --dtype bf16 --d 128 --n 4096,16384 --reps 10 --rounds 2 > $L/bench-a128-m128.log 2>&1
tail -n 12 $L/bench-a128-m128.log
