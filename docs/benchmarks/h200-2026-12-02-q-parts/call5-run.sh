# call 5 was given inline, right after call 4 on the same machine (what it ran, as one script):
tar xzf .device/pack.tgz && . .device/env.sh >/dev/null
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin; L=$OUT/logs; mkdir -p $L
cd flash-djl-cuda/src/test/python
timeout 200 python3 bench_kernels.py $F --d 64,96,128,192,256 --n 512,1024,2048,4096,8192,16384 --dtype bf16,f16 --reps 10 > $L/grid2.log 2>&1
python3 bench_bars.py $L/grid2.log > $L/bars2.txt 2>&1
timeout 150 python3 bench_deterministic.py $F > $L/deterministic.log 2>&1
