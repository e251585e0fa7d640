#!/bin/bash
# call 3: the bars on the Maven fatbin of wip/stagger: deterministic (bf16, f16), the FA3 grid (bf16, f16) and bench_bars
set -u
R=$(pwd)/.device/c3; LOGS=$OUT/logs; mkdir -p $LOGS
F=$R/N.fatbin
sha256sum $F > $LOGS/fatbins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $LOGS/gpu.txt 2>&1
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
cd flash-djl-cuda/src/test/python
python3 -c "import torch;print(torch.__version__, torch.backends.cudnn.version())" >> $LOGS/gpu.txt 2>&1
for dt in bf16 f16; do
  timeout 110 python3 bench_deterministic.py $F --d 64,96,128,192,256 --dtype $dt > $LOGS/deterministic-$dt.txt 2>&1
  echo "det $dt rc=$?"; snap
done
timeout 240 python3 bench_kernels.py $F --d 64,96,128,192,256 --n 512,1024,2048,4096,8192,16384 --dtype bf16,f16 --reps 10 > $LOGS/grid.log 2>&1
echo "grid rc=$?"; snap
python3 bench_bars.py $LOGS/grid.log > $LOGS/bars.txt 2>&1; snap
for dt in bf16 f16; do echo "== $dt"; grep "^| [0-9]" $LOGS/deterministic-$dt.txt | awk -F'|' '{print $2,$3,$4,$(NF-1)}' | tr '\n' ';'; echo; done
cat $LOGS/bars.txt | head -60
