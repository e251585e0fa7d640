set -u
R=$(pwd)/.device/s16c8; L=$OUT/logs; mkdir -p $L
F=$R/N.fatbin
sha256sum $F > $L/fatbins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
cd flash-djl-cuda/src/test/python
python3 -c "import torch;print(torch.__version__, torch.backends.cudnn.version())" >> $L/gpu.txt 2>&1
# the bars of issue 13 on the final build (main's Maven fatbin)
timeout 230 python3 bench_kernels.py $F --d 64,96,128,192,256 --n 512,1024,2048,4096,8192,16384 --dtype bf16,f16 --reps 10 > $L/grid.log 2>&1; snap
python3 bench_bars.py $L/grid.log > $L/bars.txt 2>&1; snap
timeout 150 python3 bench_deterministic.py $F > $L/deterministic.log 2>&1; snap
cat $L/bars.txt
grep "^| [0-9]" $L/deterministic.log
