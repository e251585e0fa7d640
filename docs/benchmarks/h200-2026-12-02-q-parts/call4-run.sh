set -u
. .device/env.sh > /dev/null
L=$OUT/logs; mkdir -p $L
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin
sha256sum $F > $L/fatbins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
cd flash-djl-cuda/src/test/python
python3 -c "import torch;print(torch.__version__, torch.backends.cudnn.version())" >> $L/gpu.txt 2>&1
timeout 220 python3 bench_kernels.py $F --d 64,96,128,192,256 --n 512,1024,2048,4096,8192,16384 --dtype bf16,f16 --reps 10 > $L/grid.log 2>&1; snap
python3 bench_bars.py $L/grid.log > $L/bars.txt 2>&1; snap
timeout 90 ncu --clock-control none -k regex:flash_fwd --launch-count 1 --section SpeedOfLight --section MemoryWorkloadAnalysis \
  --section WarpStateStats -o $L/rep-f-512 python3 profile_dkdv.py $F --d 128 --n 512 > $L/ncu-run-f-512.log 2>&1
ncu -i $L/rep-f-512.ncu-rep --page raw --csv > $L/raw-f-512.csv 2>&1
ncu -i $L/rep-f-512.ncu-rep --page details --print-details all > $L/details-f-512.txt 2>&1; rm -f $L/rep-f-512.ncu-rep; snap
cat $L/bars.txt
grep -h "Duration\|Long Scoreboard\|Warp Cycles Per Issued" $L/details-f-512.txt
