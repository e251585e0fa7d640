set -u
R=$(pwd)/.device/r1; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
cd flash-djl-cuda/src/test/python
python3 -c "import torch;print(torch.__version__, torch.backends.cudnn.version())" >> $L/gpu.txt 2>&1
timeout 60 python3 check_kernels.py $R/N64.cubin --d 64 --seed 8164 > $L/check-kernels-64.log 2>&1
FLASH_FWD_FORM=long timeout 60 python3 check_kernels.py $R/N64.cubin --d 64 --dtype bf16 --seed 8264 > $L/check-kernels-64-long-bf16.log 2>&1
FLASH_FWD_FORM=long timeout 60 python3 check_kernels.py $R/N64.cubin --d 64 --dtype f16 --seed 8364 > $L/check-kernels-64-long-f16.log 2>&1
snap; tail -n 1 $L/check-*.log
timeout 240 python3 bench_kernels.py $R/N64.cubin $R/H64.cubin --dtype bf16,f16 --d 64 --n 1024,2048,4096,8192,16384 --reps 10 --rounds 3 > $L/bench-64.log 2>&1; snap
for f in long short; do FLASH_FWD_FORM=$f timeout 60 python3 bench_kernels.py $R/N64.cubin --dtype bf16 --d 64 --n 512,1024,2048 --reps 10 > $L/bench-64-$f.log 2>&1; done; snap
grep -A30 "before fwd\|after/before" $L/bench-64.log | tail -25
for f in long short; do echo $f; grep "TFLOP/s" $L/bench-64-$f.log; done
