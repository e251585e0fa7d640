set -u
. .device/env.sh > /dev/null
L=$OUT/logs; mkdir -p $L
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin
sha256sum $F > $L/fatbins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
true &
JP=$!
cd flash-djl-cuda/src/test/python
python3 -c "import torch;print(torch.__version__, torch.backends.cudnn.version())" >> $L/gpu.txt 2>&1
# the kernels that changed: the 16-bit forwards of d 64 (long form), 128, 192 and 256, every dtype
timeout 200 python3 check_kernels.py $F --d 64,128,192,256 --seed 9501 > $L/check-kernels.log 2>&1
FLASH_FWD_FORM=long timeout 60 python3 check_kernels.py $F --d 64 --seed 9502 > $L/check-kernels-64-long.log 2>&1; snap
timeout 100 python3 check_bias.py $F --d 64,128,192,256 --seed 9503 > $L/check-bias.log 2>&1; snap
timeout 60 python3 check_dropout.py $F --seed 9504 > $L/check-dropout.log 2>&1
FLASH_FWD_FORM=long timeout 60 python3 check_dropout.py $F --seed 9505 > $L/check-dropout-long.log 2>&1; snap
timeout 80 python3 check_sequences.py $F --seed 9506 > $L/check-seq.log 2>&1; snap
wait; snap
tail -qn 1 $L/check-*.log; 
timeout 200 python3 bench_kernels.py $F --d 64,96,128,192,256 --n 512,1024,2048,4096,8192,16384 --dtype bf16,f16 --reps 10 > $L/grid.log 2>&1; snap
python3 bench_bars.py $L/grid.log > $L/bars.txt 2>&1; snap
cat $L/bars.txt
