set -u
[ -f .device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin ] || tar xzf .device/pack.tgz
L=$OUT/logs; mkdir -p $L
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin
sha256sum $F > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
cd flash-djl-cuda/src/test/python
timeout 500 python3 bench_kernels.py $F --d 64,96,128,192,256 --n 512,1024,2048,4096,8192,16384 --dtype bf16,f16 --reps 10 > $L/grid.log 2>&1; snap
python3 bench_bars.py $L/grid.log > $L/bars.txt 2>&1; snap
cat $L/bars.txt
