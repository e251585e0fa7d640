set -u
R=$(pwd)/.device/r1; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
cd flash-djl-cuda/src/test/python
python3 -c "import torch;print(torch.__version__, torch.backends.cudnn.version())" >> $L/gpu.txt 2>&1
for d in 128 96 64; do timeout 45 python3 check_kernels.py $R/N$d.cubin --d $d --seed 71$d > $L/check-kernels-$d.log 2>&1; done
for d in 128 64; do timeout 40 python3 check_bias.py $R/N$d.cubin --d $d --seed 72$d > $L/check-bias-$d.log 2>&1; done; snap
tail -n 1 $L/check-*.log
for d in 128 96 64; do timeout 110 python3 bench_kernels.py $R/N$d.cubin $R/H$d.cubin --dtype bf16,f16 --d $d --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-$d.log 2>&1; snap; tail -n 1 $L/bench-$d.log; done
timeout 60 python3 bench_deterministic.py $R/N128.cubin --d 128 --n 4096,16384 --reps 10 > $L/det-N128.log 2>&1; snap
tail -n 6 $L/det-N128.log
